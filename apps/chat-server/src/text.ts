/**
 * What may be a nickname, a room name or a message, shared by both protocols so that users of the
 * line protocol and of IRC see each other under the same names.
 */

/** RFC 2812's nickname characters (letters, digits, `[]\`_^{|}-`), first not a digit or `-`; 16 at most. */
const NICK = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,15}$/
/** A room is an IRC channel: `#` and 1-32 characters without space, comma, control characters or `:`. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it matches
const ROOM = /^#[^\s,:\x00-\x1f\x7f]{1,32}$/

export const MAX_NICK_LENGTH = 16

export function isValidNick(nick: string): boolean {
  return NICK.test(nick)
}

/**
 * The room a user means: line-protocol users may leave out the `#` (`/join lobby`). `null` when the
 * name cannot be a room.
 */
export function roomName(name: string): string | null {
  const room = name.startsWith('#') ? name : `#${name}`
  return ROOM.test(room) ? room : null
}

/** Nicknames and rooms compare case-insensitively, ASCII only (IRC's `CASEMAPPING=ascii`). */
export function fold(name: string): string {
  return name.toLowerCase()
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A received line as text without its line ending; `null` if it is not valid UTF-8. */
export function decodeLine(raw: Buffer): string | null {
  let end = raw.length
  if (end > 0 && raw[end - 1] === 0x0a) end--
  if (end > 0 && raw[end - 1] === 0x0d) end--
  try {
    return utf8.decode(raw.subarray(0, end))
  } catch {
    return null
  }
}

// C0 controls and DEL, but IRC's formatting codes (bold, colour, reset, reverse, italic, underline)
// and CTCP's \x01, which IRC clients use in ordinary messages. ESC is removed: it drives terminals.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it matches
const UNSAFE = /[\x00\x04-\x08\x0a-\x0e\x10-\x15\x17-\x1c\x1e\x7f]/g
// What a terminal user should not receive either: the IRC formatting codes and CTCP markers.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it matches
const FORMATTING = /[\x01-\x03\x0f\x16\x1d\x1f]/g

/** Text as it may travel to other users: tabs become spaces, other unsafe control characters go. */
export function sanitize(text: string): string {
  return text.replaceAll('\t', ' ').replace(UNSAFE, '')
}

/** Text as a terminal (nc, telnet) may show it: without IRC's formatting codes. */
export function plain(text: string): string {
  return text.replace(FORMATTING, '')
}
