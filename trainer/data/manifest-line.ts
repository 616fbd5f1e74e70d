import { posix } from 'node:path';
import { DatasetError } from './source.js';

/** CSV fields, `"`-quoted when they hold the separator (`""` is a quote), one record per line. */
export function fieldsOf(line: string, separator: string, where: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote < 0) throw new DatasetError(`${where}: unterminated quoted field`);
        value += line.slice(i, quote);
        i = quote + 1;
        if (line[i] !== '"') break;
        // A doubled quote stands for one quote.
        value += '"';
        i++;
      }
      if (i < line.length && line[i] !== separator) throw new DatasetError(`${where}: text after a closing quote`);
      fields.push(value);
    } else {
      const end = line.indexOf(separator, i);
      fields.push(line.slice(i, end < 0 ? line.length : end));
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) return fields;
    i++;
  }
}

/** A manifest path as a normalized path beneath the root; absolute or escaping paths are errors. */
export function beneathRoot(path: string, root: string, where: string): string {
  if (path === '') throw new DatasetError(`${where}: empty path`);
  if (posix.isAbsolute(path)) throw new DatasetError(`${where}: ${path} is absolute; paths are relative to ${root}`);
  const normalized = posix.normalize(path);
  if (normalized === '..' || normalized.startsWith('../')) {
    throw new DatasetError(`${where}: ${path} is outside ${root}`);
  }
  return normalized;
}
