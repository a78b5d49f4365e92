// snappyjs 0.7.0 ships no types: the two functions loadscope uses (snappy block format, no framing).
declare module 'snappyjs' {
  /** Decompresses one snappy block; throws on a malformed block or one longer than `maxLength`. */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
  /** Compresses into one snappy block. */
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
}
