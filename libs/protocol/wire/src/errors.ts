/** Bytes that are not a well-formed message of the protocol, or a message that breaks its rules. */
export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}
