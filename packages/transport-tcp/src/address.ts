// Moved to core, which every IP transport (TCP, UDP) shares; re-exported here so imports keep working.
export { type InetAddress, type InetAddressInput, reusePortSupport, toInetAddress } from '@socketserver/core'
