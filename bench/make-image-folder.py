#!/usr/bin/env python3
"""Make an ImageNet-shaped folder of real images from the wallpapers a Debian package ships (nothing downloaded).

    python3 bench/make-image-folder.py OUT --classes 10 --train 1500 --val 300 \
        [--formats jpeg] [--short-side 300-500] [--seed 1] [--large N] [--grain 5] [--jobs 2]

Source: every raster wallpaper in /usr/share/backgrounds/gnome (package gnome-backgrounds; the .webp files, .svg
skipped), read with PIL only (package python3-pil). Class k uses wallpaper k mod W; when there are more classes than
wallpapers, the repeats (variant v = k // W) are made distinguishable by a channel permutation, a colour cast of
their own (so grey wallpapers differ too) and a rotation.

Each image is a random crop of its class's wallpaper (random position, side 30-100 % of the wallpaper's short side,
aspect 3/4-4/3) resized so its short side is a random value in --short-side, with light sensor-like grain (--grain,
the standard deviation in 8-bit levels; it brings JPEG q85 to ~40 KB at 300-500 px, like camera photos), saved as
JPEG quality 85 (or the codec --formats cycles to).

Layout (--train and --val are totals, dealt round-robin over the classes):
    OUT/train/c00/c00_00000.jpg ...      class folders c00, c01, ...
    OUT/val/c00/val_00000007.jpg ...     the same val images, by class
    OUT/val-flat/val_00000001.jpg ...    the val images flat; names do not reveal the class (ImageNet's val/)
    OUT/val.csv                          path,label   (path relative to OUT/val-flat, label = class folder name)
    OUT/.complete                        the arguments, written last; a rerun with the same arguments does nothing

--large N: train/ instead holds N images of 12 megapixels (4240x2832 landscape, JPEG q85; for memory tests),
dealt over the classes (--train is then not used); val/ is made as usual.

Exit codes: 0 ok, 2 bad arguments, 3 PIL missing (python3-pil), 4 no wallpapers (gnome-backgrounds).
Deterministic for a given seed (and the same Pillow/libjpeg build).
"""

import argparse
import glob
import io
import json
import math
import os
import random
import shutil
import sys
from multiprocessing import Pool
from statistics import NormalDist

try:
    from PIL import Image, ImageChops, features
except ImportError:
    sys.stderr.write(
        "make-image-folder: Pillow is missing; install the Debian package python3-pil (apt-get install python3-pil)\n"
    )
    sys.exit(3)

WALLPAPER_DIR = "/usr/share/backgrounds/gnome"
VERSION = 4  # bump when the output for given arguments changes
LARGE_SIZE = (4240, 2832)
EXT = {"jpeg": "jpg", "png": "png", "webp": "webp", "bmp": "bmp", "gif": "gif"}
PERMS = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)]
RESAMPLE = Image.Resampling.BILINEAR if hasattr(Image, "Resampling") else Image.BILINEAR  # antialiased (triangle)


def parse_args(argv):
    p = argparse.ArgumentParser(description="ImageNet-shaped folder from the gnome-backgrounds wallpapers")
    p.add_argument("out")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--train", type=int, default=1500, help="train images in total")
    p.add_argument("--val", type=int, default=300, help="val images in total")
    p.add_argument("--formats", default="jpeg", help="comma list of jpeg,png,webp,bmp,gif, cycled over the images")
    p.add_argument("--short-side", default="300-500", help="MIN-MAX pixels of the short side")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--large", type=int, default=0, help="train/ gets N 12-megapixel images instead")
    p.add_argument("--grain", type=float, default=5.0, help="grain standard deviation in 8-bit levels (0: none)")
    p.add_argument("--quality", type=int, default=85, help="JPEG/WebP quality")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (not part of the output)")
    a = p.parse_args(argv)
    a.formats = [f.strip().lower() for f in a.formats.split(",") if f.strip()]
    bad = [f for f in a.formats if f not in EXT]
    if bad or not a.formats:
        p.error(f'unknown format(s) {bad}; choose from {",".join(EXT)}')
    try:
        lo, _, hi = a.short_side.partition("-")
        a.short_lo, a.short_hi = int(lo), int(hi or lo)
    except ValueError:
        p.error("--short-side is MIN-MAX, e.g. 300-500")
    if not 16 <= a.short_lo <= a.short_hi:
        p.error("--short-side needs 16 <= MIN <= MAX")
    if a.classes < 1 or a.train < 0 or a.val < 0 or a.large < 0:
        p.error("--classes must be >= 1 and counts >= 0")
    if "webp" in a.formats and not features.check("webp"):
        p.error("this Pillow has no WebP support")
    return a


def wallpapers():
    return sorted(glob.glob(os.path.join(WALLPAPER_DIR, "*.webp")))


def marker_of(a, sources):
    return {
        "version": VERSION,
        "classes": a.classes,
        "train": a.train,
        "val": a.val,
        "formats": a.formats,
        "shortSide": [a.short_lo, a.short_hi],
        "seed": a.seed,
        "large": a.large,
        "grain": a.grain,
        "quality": a.quality,
        "sources": [os.path.basename(s) for s in sources],
    }


# ---- worker side -------------------------------------------------------------------------------------------------

_base = {}
_cache = {}
_grain_lut = {}


def variant_gains(variant):
    """A colour cast per variant (a hue on the wheel, golden-ratio steps), so even grey wallpapers differ."""
    h = (variant * 0.6180339887) % 1.0
    return [0.35 + 0.65 * (0.5 + 0.5 * math.cos(2 * math.pi * (h - c / 3))) for c in range(3)]


def source_image(path, variant, full, hi):
    """The class's source: the wallpaper (halved unless full or a 30 % crop would then be under hi px) and variant.

    Variant 0 is the wallpaper itself; variant v >= 1 (classes past the number of wallpapers) gets the channel
    permutation v mod 6, a colour cast of its own and a rotation by 90 * (v // 6) degrees.
    """
    key = (path, variant, full, hi)
    if key in _cache:
        return _cache[key]
    if (path, full, hi) not in _base:
        _base.clear()  # tasks come sorted by source: one decoded wallpaper per process at a time
        im = Image.open(path).convert("RGB")
        if not full and 0.3 * min(im.size) / 2 >= hi:
            im = im.reduce(2)  # 4x fewer pixels to resample from; crops still shrink
        _base[(path, full, hi)] = im
    im = _base[(path, full, hi)]
    if variant:
        perm = PERMS[variant % 6]
        rot = (variant // 6) % 4
        if rot:
            im = im.rotate(90 * rot, expand=True)
        ch = im.split()
        gains = variant_gains(variant)
        im = Image.merge("RGB", [ch[i].point(lambda x, g=g: int(x * g + 0.5)) for i, g in zip(perm, gains)])
    _cache.clear()
    _cache[key] = im
    return im


def grain_lut(sigma):
    if sigma not in _grain_lut:
        nd = NormalDist()
        _grain_lut[sigma] = [max(0, min(255, round(128 + sigma * nd.inv_cdf((i + 0.5) / 256)))) for i in range(256)] * 3
    return _grain_lut[sigma]


def encode(im, fmt, quality):
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality, method=4)
    elif fmt == "png":
        im.save(buf, "PNG", compress_level=6)
    elif fmt == "bmp":
        im.save(buf, "BMP")
    elif fmt == "gif":
        im.quantize(256, method=Image.Quantize.MEDIANCUT if hasattr(Image, "Quantize") else 0).save(buf, "GIF")
    return buf.getvalue()


def make_one(task):
    """task: (rng key, source path, variant, large, short lo, short hi, grain, fmt, quality, output paths)."""
    key, path, variant, large, lo, hi, grain, fmt, quality, outs = task
    rng = random.Random(key)
    src = source_image(path, variant, large, hi)
    W, H = src.size
    short = min(W, H)
    if large:
        aspect = LARGE_SIZE[0] / LARGE_SIZE[1]
        side = rng.uniform(0.3, 1.0) * short
        cw, ch = side * aspect ** 0.5, side / aspect ** 0.5
        f = min(1.0, W / cw, H / ch)
        cw, ch = cw * f, ch * f
        size = LARGE_SIZE
    else:
        aspect = rng.uniform(3 / 4, 4 / 3)
        side = rng.uniform(0.3, 1.0) * short
        cw, ch = min(W, side * aspect ** 0.5), min(H, side / aspect ** 0.5)
        target = rng.randint(lo, hi)
        if cw < ch:
            size = (target, max(1, round(target * ch / cw)))
        else:
            size = (max(1, round(target * cw / ch)), target)
    x0 = rng.uniform(0, W - cw)
    y0 = rng.uniform(0, H - ch)
    im = src.resize(size, RESAMPLE, box=(x0, y0, x0 + cw, y0 + ch), reducing_gap=None if large else 2.0)
    if grain > 0:
        noise = Image.frombytes("RGB", im.size, rng.randbytes(im.width * im.height * 3)).point(grain_lut(grain))
        im = ImageChops.add(im, noise, 1.0, -128)
    data = encode(im, fmt, quality)
    for out in outs:
        with open(out, "wb") as fh:
            fh.write(data)
    return len(data), im.size


# ---- main --------------------------------------------------------------------------------------------------------


def main(argv):
    a = parse_args(argv)
    sources = wallpapers()
    if not sources:
        sys.stderr.write(
            f"make-image-folder: no raster wallpapers in {WALLPAPER_DIR}; install the Debian package "
            "gnome-backgrounds (apt-get install gnome-backgrounds)\n"
        )
        return 4
    out = os.path.abspath(a.out)
    marker = marker_of(a, sources)
    marker_path = os.path.join(out, ".complete")
    try:
        with open(marker_path) as fh:
            if json.load(fh) == marker:
                print(json.dumps({"out": out, "cached": True}))
                return 0
    except (OSError, ValueError):
        pass

    os.makedirs(out, exist_ok=True)
    for name in (".complete", "val.csv"):
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    for name in ("train", "val", "val-flat"):
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)

    names = [f"c{k:02d}" for k in range(a.classes)]
    for split in ("train", "val"):
        for n in names:
            os.makedirs(os.path.join(out, split, n))
    os.makedirs(os.path.join(out, "val-flat"))

    def source_of(k):
        return sources[k % len(sources)], k // len(sources)

    tasks = []  # (class, task)
    n_train = a.large or a.train
    for i in range(n_train):
        k = i % a.classes
        path, variant = source_of(k)
        fmt = "jpeg" if a.large else a.formats[i % len(a.formats)]
        dest = os.path.join(out, "train", names[k], f"{names[k]}_{i // a.classes:05d}.{EXT[fmt]}")
        key = f'{a.seed}:train:{k}:{i}:{"large" if a.large else "small"}'
        tasks.append((k, (key, path, variant, bool(a.large), a.short_lo, a.short_hi, a.grain, fmt, a.quality, [dest])))

    # val: flat numbering in a seeded shuffled order, so a name says nothing about the class
    order = list(range(a.val))
    random.Random(f"{a.seed}:val-order").shuffle(order)
    rows = []
    for j in range(a.val):
        k = j % a.classes
        path, variant = source_of(k)
        fmt = a.formats[j % len(a.formats)]
        name = f"val_{order[j] + 1:08d}.{EXT[fmt]}"
        dests = [os.path.join(out, "val", names[k], name), os.path.join(out, "val-flat", name)]
        key = f"{a.seed}:val:{k}:{j}"
        tasks.append((k, (key, path, variant, False, a.short_lo, a.short_hi, a.grain, fmt, a.quality, dests)))
        rows.append((order[j], name, names[k]))

    # sorted by source and dealt in one contiguous run per process: each process decodes a wallpaper at most once
    tasks.sort(key=lambda t: (t[1][1], t[1][2], t[1][3]))
    work = [t for _, t in tasks]
    jobs = max(1, min(a.jobs, len(work)))
    if jobs > 1:
        with Pool(jobs) as pool:
            results = pool.map(make_one, work, chunksize=-(-len(work) // jobs))
    else:
        results = [make_one(t) for t in work]

    rows.sort()
    with open(os.path.join(out, "val.csv"), "w") as fh:
        fh.write("path,label\n")
        for _, name, label in rows:
            fh.write(f"{name},{label}\n")

    sizes = [r[0] for r in results]
    with open(marker_path + ".tmp", "w") as fh:
        json.dump(marker, fh)
    os.replace(marker_path + ".tmp", marker_path)
    print(json.dumps({
        "out": out,
        "cached": False,
        "images": len(results),
        "meanKB": round(sum(sizes) / len(sizes) / 1024, 1) if sizes else 0,
        "minKB": round(min(sizes) / 1024, 1) if sizes else 0,
        "maxKB": round(max(sizes) / 1024, 1) if sizes else 0,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
