import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import {
  indexImageFolder,
  indexManifest,
  readImageIndex,
  writeImageIndex,
  type ImageIndex,
} from '../../../trainer/data/image-index.js';
import { DatasetError } from '../../../trainer/data/source.js';

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
/** Each format's signature followed by a few bytes, as only signatures are checked. */
const IMAGES = {
  jpeg: [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...ascii('JFIF'), 0],
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, ...ascii('IHDR')],
  gif: [...ascii('GIF89a'), 1, 0, 1, 0],
  bmp: [...ascii('BM'), 0x3a, 0, 0, 0, 0, 0, 0, 0],
  webp: [...ascii('RIFF'), 0x24, 0, 0, 0, ...ascii('WEBPVP8 ')],
};
const bytes = (format: keyof typeof IMAGES) => new Uint8Array(IMAGES[format]);

const temporary: string[] = [];
after(() => Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'effscale-index-'));
  temporary.push(dir);
  return dir;
}

/** Writes files (their parents created) under `dir`. */
async function files(dir: string, contents: Record<string, Uint8Array | string>): Promise<void> {
  const paths = Object.keys(contents).map((path) => join(dir, path));
  for (const folder of new Set(paths.map((path) => dirname(path)))) await mkdir(folder, { recursive: true });
  await Promise.all(Object.values(contents).map((content, i) => writeFile(paths[i], content)));
}

const all = (index: ImageIndex) =>
  Array.from({ length: index.count }, (_, i) => [index.relativePath(i), index.label(i), index.format(i)]);

/** Asserts `run` throws a DatasetError whose message contains every one of `parts`. */
async function rejectsNaming(run: () => Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(run, (err: Error) => {
    assert.ok(err instanceof DatasetError, `${err.name}: ${err.message}`);
    for (const part of parts) assert.ok(err.message.includes(part), `"${err.message}" should name ${part}`);
    return true;
  });
}

test(
  'a folder: nested and symlinked folders and files, formats by signature, skips counted by reason',
  {
    timeout: 20_000,
  },
  async () => {
    const dir = await tempDir();
    const root = join(dir, 'train');
    await files(dir, {
      'train/cat/a.jpg': bytes('jpeg'),
      'train/cat/c.gif': bytes('gif'),
      'train/cat/deep/er/b.PNG': bytes('png'),
      'train/cat/fake.jpg': bytes('png'),
      'train/cat/.hidden.jpg': bytes('jpeg'),
      'train/cat/notes.txt': 'not an image',
      'train/readme.md': 'loose',
      'train/.DS_Store': 'finder',
      'elsewhere/dogs/d.bmp': bytes('bmp'),
      'elsewhere/dogs/e.WebP': bytes('webp'),
      'outside/x.jpeg': bytes('jpeg'),
    });
    await symlink(join(dir, 'elsewhere/dogs'), join(root, 'dog'));
    await symlink(join(dir, 'outside/x.jpeg'), join(dir, 'elsewhere/dogs/link.jpeg'));
    await symlink('..', join(root, 'cat/deep/loop'));
    await symlink(join(dir, 'nowhere.jpg'), join(root, 'cat/gone.jpg'));

    const index = await indexImageFolder(root);
    assert.equal(index.root, root);
    assert.deepEqual(index.classNames, ['cat', 'dog']);
    assert.deepEqual(all(index), [
      ['cat/a.jpg', 0, 'jpeg'],
      ['cat/c.gif', 0, 'gif'],
      ['cat/deep/er/b.PNG', 0, 'png'],
      ['cat/fake.jpg', 0, 'png'],
      ['dog/d.bmp', 1, 'bmp'],
      ['dog/e.WebP', 1, 'webp'],
      ['dog/link.jpeg', 1, 'jpeg'],
    ]);
    assert.equal(new TextDecoder().decode(index.pathBytes(2)), `${root}/cat/deep/er/b.PNG`);
    assert.deepEqual(index.formatCounts(), { jpeg: 2, png: 2, gif: 1, bmp: 1, webp: 1 });
    assert.deepEqual(index.skipped.counts, {
      'hidden file': 2,
      'not in a class folder': 1,
      'broken symlink': 1,
      'not an image extension': 1,
      'folder already indexed': 1,
    });
    assert.equal(index.skipped.total, 6);
    assert.deepEqual(
      index.skipped.examples.map((e) => `${e.path}: ${e.reason}`),
      [
        '.DS_Store: hidden file',
        'readme.md: not in a class folder',
        'cat/.hidden.jpg: hidden file',
        'cat/gone.jpg: broken symlink',
        'cat/notes.txt: not an image extension',
        'cat/deep/loop: folder already indexed',
      ],
    );
    assert.throws(() => index.label(index.count), RangeError);
  },
);

test(
  'a symlink cycle through two folders ends, each image indexed once by its real path',
  {
    timeout: 20_000,
  },
  async () => {
    const root = await tempDir();
    await files(root, { 'a/x/1.jpg': bytes('jpeg'), 'a/y/2.jpg': bytes('jpeg') });
    await symlink('../y', join(root, 'a/x/to-y'));
    await symlink('../x', join(root, 'a/y/to-x'));
    const index = await indexImageFolder(root);
    assert.deepEqual(all(index), [
      ['a/x/1.jpg', 0, 'jpeg'],
      ['a/y/2.jpg', 0, 'jpeg'],
    ]);
    assert.deepEqual(index.skipped.examples, [
      { path: 'a/x/to-y', reason: 'folder already indexed' },
      { path: 'a/y/to-x', reason: 'folder already indexed' },
    ]);
  },
);

test('a file named as an image without an image signature names the file, unless skipCorrupt', async () => {
  for (const [name, content, start] of [
    ['page.jpg', '<!DOCTYPE html>', 'starts with 3c 21 44 4f 43 54 59 50 45 20 68 74 "<!DOCTYPE ht"'],
    ['empty.png', '', 'empty file'],
    ['cut.png', new Uint8Array(IMAGES.png.slice(0, 5)), 'starts with 89 50 4e 47 0d ".PNG."'],
    [
      'riff.webp',
      new Uint8Array([...ascii('RIFF'), 0, 0, 0, 0, ...ascii('WAVE')]),
      'starts with 52 49 46 46 00 00 00 00 57 41 56 45 "RIFF....WAVE"',
    ],
  ] as const) {
    const root = await tempDir();
    await files(root, { 'cat/ok.jpg': bytes('jpeg'), [`cat/${name}`]: content });
    await rejectsNaming(
      () => indexImageFolder(root),
      `${root}/cat/${name}: not a JPEG/PNG/GIF/BMP/WebP image (${start})`,
    );
    const index = await indexImageFolder(root, { skipCorrupt: true });
    assert.deepEqual(all(index), [['cat/ok.jpg', 0, 'jpeg']]);
    assert.deepEqual(index.skipped.counts, { 'corrupt signature': 1 });
    assert.deepEqual(index.skipped.examples, [{ path: `cat/${name}`, reason: 'corrupt signature' }]);
  }
});

test('classes: given ones order the labels and reject other folders; every training class needs images', async () => {
  const root = await tempDir();
  await files(root, { 'cat/a.jpg': bytes('jpeg'), 'dog/b.jpg': bytes('jpeg'), 'fox/notes.txt': '' });
  const validation = await indexImageFolder(root, { classNames: ['dog', 'cat', 'eel', 'fox'] });
  assert.deepEqual(all(validation), [
    ['cat/a.jpg', 1, 'jpeg'],
    ['dog/b.jpg', 0, 'jpeg'],
  ]);
  assert.deepEqual(validation.classNames, ['dog', 'cat', 'eel', 'fox']);
  await rejectsNaming(() => indexImageFolder(root, { classNames: ['cat', 'fox'] }), root, 'dog', 'not in the training');
  await rejectsNaming(
    () => indexImageFolder(root),
    root,
    'fox have no images',
    '1 file skipped (1 not an image extension)',
  );
  const empty = await tempDir();
  await files(empty, { 'cat/a.txt': '' });
  await rejectsNaming(() => indexImageFolder(empty, { classNames: ['cat'] }), empty, 'no images');
  await rejectsNaming(() => indexImageFolder(join(empty, 'missing')), join(empty, 'missing'), 'cannot be read');
});

test('an index of more files than a reader batch keeps the walk order', { timeout: 30_000 }, async () => {
  const root = await tempDir();
  const names: string[] = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 700; i++) names.push(`n0${c}/n0${c}_${1000 + i}.JPEG`);
  }
  await files(root, Object.fromEntries(names.map((n) => [n, bytes('jpeg')])));
  const index = await indexImageFolder(root);
  assert.deepEqual(
    all(index),
    names.map((n) => [n, Number(n[2]), 'jpeg']),
  );
});

test('a manifest: CSV with a header and quoted fields, classes sorted, paths beneath its folder', async () => {
  const root = await tempDir();
  await files(root, {
    'val/1.JPEG': bytes('jpeg'),
    'val/a,b.png': bytes('png'),
    'val/say "hi".gif': bytes('gif'),
    'val/readme.txt': '',
    'val/.x.jpg': bytes('jpeg'),
  });
  await writeFile(
    join(root, 'labels.csv'),
    '\uFEFFPath,Label\r\n./val/1.JPEG,zebra\r\n\r\n"val/a,b.png",ant\r\n"val/say ""hi"".gif","ant"\r\n' +
      'val/readme.txt,ant\r\nval/.x.jpg,zebra\r\n',
  );
  const index = await indexManifest(join(root, 'labels.csv'));
  assert.equal(index.root, root);
  assert.deepEqual(index.classNames, ['ant', 'zebra']);
  assert.deepEqual(all(index), [
    ['val/1.JPEG', 1, 'jpeg'],
    ['val/a,b.png', 0, 'png'],
    ['val/say "hi".gif', 0, 'gif'],
  ]);
  assert.deepEqual(index.skipped.counts, { 'not an image extension': 1, 'hidden file': 1 });
});

test('a manifest: TSV, another root, the training classes', async () => {
  const dir = await tempDir();
  await files(dir, { 'images/x.bmp': bytes('bmp'), 'images/y.webp': bytes('webp') });
  const manifest = join(dir, 'lists/val.tsv');
  await files(dir, { 'lists/val.tsv': 'path\tlabel\nx.bmp\tdog\ny.webp\tcat, the\n' });
  const index = await indexManifest(manifest, { root: join(dir, 'images'), classNames: ['cat, the', 'dog', 'eel'] });
  assert.deepEqual(all(index), [
    ['x.bmp', 1, 'bmp'],
    ['y.webp', 0, 'webp'],
  ]);
  assert.equal(new TextDecoder().decode(index.pathBytes(1)), join(dir, 'images/y.webp'));
});

test('a manifest: bad lines are errors naming the manifest and the line', async () => {
  const root = await tempDir();
  await files(root, { 'a.jpg': bytes('jpeg'), 'html.jpg': '<html>', 'dir.jpg/b.jpg': bytes('jpeg') });
  const manifest = join(root, 'm.csv');
  const cases: [string, string[]][] = [
    ['a.jpg,cat\na.jpg,eel\n', [`${manifest}:2:`, 'label eel is not a training class']],
    ['a.jpg,cat\ndir.jpg/../../a.jpg,cat\n', [`${manifest}:2:`, 'dir.jpg/../../a.jpg is outside']],
    ['/etc/passwd.jpg,cat\n', [`${manifest}:1:`, '/etc/passwd.jpg is absolute']],
    ['a.jpg,cat\n\nmissing.jpg,cat\n', [`${manifest}:3:`, `${root}/missing.jpg: does not exist`]],
    ['a.jpg,cat\nhtml.jpg,cat\n', [`${manifest}:2:`, `${root}/html.jpg: not a JPEG/PNG/GIF/BMP/WebP image`]],
    ['a.jpg,cat,extra\n', [`${manifest}:1:`, '3 columns']],
    ['"a.jpg,cat\n', [`${manifest}:1:`, 'unterminated']],
    ['dir.jpg,cat\n', [`${manifest}:1:`, `${root}/dir.jpg: is a folder`]],
    ['path,label\nnotes.txt,cat\n', [manifest, 'no images', '1 file skipped (1 not an image extension)']],
  ];
  for (const [text, parts] of cases) {
    await writeFile(manifest, text);
    await rejectsNaming(() => indexManifest(manifest, { classNames: ['cat'] }), ...parts);
  }
  await writeFile(manifest, 'a.jpg,cat\nhtml.jpg,dog\n');
  const skipping = await indexManifest(manifest, { skipCorrupt: true, classNames: ['cat', 'dog'] });
  assert.deepEqual(all(skipping), [['a.jpg', 0, 'jpeg']]);
  assert.deepEqual(skipping.skipped.counts, { 'corrupt signature': 1 });
  await rejectsNaming(() => indexManifest(join(root, 'none.csv')), `${root}/none.csv`);
});

/** Everything an index says, for comparing two. */
const contents = (index: ImageIndex) => ({
  root: index.root,
  classNames: index.classNames,
  count: index.count,
  images: all(index),
  paths: Array.from({ length: index.count }, (_, i) => Array.from(index.pathBytes(i))),
  skipped: index.skipped,
  formats: index.formatCounts(),
});

test('an index file reads back equal, and is written atomically', async () => {
  const dir = await tempDir();
  const root = join(dir, 'data');
  await files(root, {
    'ünïcode/ß.jpg': bytes('jpeg'),
    'ünïcode/b.png': bytes('png'),
    'z/c.gif': bytes('gif'),
    'z/.h.jpg': '',
    'z/d.txt': '',
  });
  const index = await indexImageFolder(root);
  const file = join(dir, 'out/train.index');
  await Promise.all([writeImageIndex(index, file), writeImageIndex(index, file)]);
  assert.deepEqual(await readdir(join(dir, 'out')), ['train.index'], 'no temporary file is left');
  const back = await readImageIndex(file);
  assert.deepEqual(contents(back), contents(index));
  assert.equal(back.byteLength, index.byteLength);

  // Any ImageIndex can be written, e.g. a view of some images of another.
  const picked = [2, 0];
  const view: ImageIndex = {
    ...contents(index),
    byteLength: 0,
    count: picked.length,
    relativePath: (i) => index.relativePath(picked[i]),
    pathBytes: (i) => index.pathBytes(picked[i]),
    label: (i) => index.label(picked[i]),
    format: (i) => index.format(picked[i]),
    formatCounts: () => ({ [index.format(2)]: 1, [index.format(0)]: 1 }),
  };
  await writeImageIndex(view, file);
  assert.deepEqual(contents(await readImageIndex(file)), contents(view));
});

test('a damaged index file is a DatasetError naming it', async () => {
  const dir = await tempDir();
  await files(dir, { 'data/cat/a.jpg': bytes('jpeg'), 'data/dog/b.jpg': bytes('jpeg') });
  const file = join(dir, 'train.index');
  await writeImageIndex(await indexImageFolder(join(dir, 'data')), file);
  const good = await readFile(file);
  const damaged = join(dir, 'damaged.index');
  const variants: [Uint8Array, string][] = [
    [good.subarray(0, good.length - 1), 'bytes where its header implies'],
    [good.subarray(0, 10), 'truncated'],
    [new Uint8Array(0), 'truncated'],
    [new TextEncoder().encode('just some text that is long enough'), 'no EFSIDX mark'],
    [Buffer.concat([good, new Uint8Array([0])]), 'bytes where its header implies'],
    [withByte(good, 6, 9), 'version 9'],
    [withByte(good, 12, 0x20), 'unreadable header'],
    // The label of the last image (labels sit just before the formats and the paths).
    [withByte(good, good.length - 'cat/a.jpgdog/b.jpg'.length - 2 - 2, 7), 'label 7 at image 1'],
    [withByte(good, good.length - 'cat/a.jpgdog/b.jpg'.length - 1, 9), 'format 9 at image 1'],
  ];
  for (const [content, why] of variants) {
    await writeFile(damaged, content);
    await rejectsNaming(() => readImageIndex(damaged), damaged, why);
  }
  await rejectsNaming(() => readImageIndex(join(dir, 'none.index')), join(dir, 'none.index'));
});

function withByte(data: Uint8Array, at: number, value: number): Uint8Array {
  const copy = Uint8Array.from(data);
  copy[at] = value;
  return copy;
}

test('an ImageNet-shaped index takes under 128 bytes per image, in memory and on disk', async () => {
  const root = await tempDir();
  const names: string[] = [];
  for (let c = 0; c < 20; c++) {
    const wnid = `n0${1440764 + c * 9973}`;
    for (let i = 0; i < 100; i++) names.push(`${wnid}/${wnid}_${10026 + i * 37}.JPEG`);
  }
  await files(root, Object.fromEntries(names.map((n) => [n, bytes('jpeg')])));
  const index = await indexImageFolder(root);
  assert.equal(index.count, names.length);
  const file = join(root, '..', `${root.split('/').pop()}.index`);
  temporary.push(file);
  await writeImageIndex(index, file);
  const perImage = { memory: index.byteLength / index.count, disk: (await stat(file)).size / index.count };
  assert.ok(perImage.memory <= 128 && perImage.disk <= 128, JSON.stringify(perImage));
  // The paths themselves (30 bytes each) and 7 bytes of offset, label and format: nothing per image beyond.
  assert.ok(perImage.memory < 40, JSON.stringify(perImage));
});
