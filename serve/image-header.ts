/**
 * The size of a PNG or JPEG read from its header, without decoding: a request is checked against the side and
 * pixel limits before any pixel is allocated (a 0.5 MiB PNG may declare 20000×20000). Undefined when the bytes
 * are neither, or the header is cut short.
 */
export interface ImageHeader {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  /** Channels as decoded with the file's own count (a palette PNG decodes to RGB or RGBA). */
  channels: number;
}

/** PNG colour type → channels decoded: gray, RGB, palette (RGB; RGBA with transparency), gray+alpha, RGBA. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 4, 4: 2, 6: 4 };

export function imageHeader(bytes: Uint8Array): ImageHeader | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 26 && view.getUint32(0) === 0x89504e47 && view.getUint32(12) === 0x49484452) {
    const channels = PNG_CHANNELS[bytes[25]];
    if (channels === undefined) return undefined;
    return { format: 'png', width: view.getUint32(16), height: view.getUint32(20), channels };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegHeader(bytes, view);
  return undefined;
}

/** Start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the frame's size. */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function jpegHeader(bytes: Uint8Array, view: DataView): ImageHeader | undefined {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    // Markers without a length: TEM, restart markers, start/end of image.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
      at += 2;
      continue;
    }
    const length = view.getUint16(at + 2);
    if (SOF.has(marker)) {
      if (at + 10 > bytes.length) return undefined;
      const components = bytes[at + 9];
      return { format: 'jpeg', height: view.getUint16(at + 5), width: view.getUint16(at + 7), channels: components };
    }
    if (length < 2) return undefined;
    at += 2 + length;
  }
  return undefined;
}
