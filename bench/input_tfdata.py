"""Python tf.data reference for effscale's input pipeline: the EfficientNet training input recipe on a JPEG folder.

Usage: PY bench/input_tfdata.py FOLDER --resolution 224 --batch 32 --threads T --batches N [--warmup 3] [--seed 1]

FOLDER holds one sub-folder per class of JPEG files (e.g. OUT/train from bench/make-image-folder.py); labels are the
sorted class-folder indices. Pipeline, per element, the same work effscale's pipeline does:
  list files (sorted) -> from_tensor_slices -> shuffle(seed) -> repeat -> enumerate (per-element seeds) ->
  map(num_parallel_calls=T, deterministic=True):
    read_file -> extract_jpeg_shape -> stateless_sample_distorted_bounding_box(area 0.08-1, aspect 3/4-4/3,
    min_object_covered 0.1, 10 attempts, whole image if no boxes) -> decode_and_crop_jpeg(channels=3) ->
    resize bilinear R x R -> stateless random left-right flip -> cast uint8
  -> batch(B, drop_remainder=True) -> prefetch(4)
Threading: inter-op and intra-op pools of T threads, a private tf.data pool of T threads, max intra-op parallelism 1.

Times --batches batches after --warmup batches and prints one JSON line:
  {"imagesPerSecond": x, "threads": T, "resolution": R, "batch": B, "batches": N, ...}
(also the timed wall and process CPU seconds, the file and class counts).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

JPEG_EXTENSIONS = (".jpg", ".jpeg")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shuffle-buffer", type=int, default=16384)
    a = p.parse_args(argv)
    if a.threads < 1 or a.batch < 1 or a.batches < 1 or a.warmup < 0 or a.resolution < 1:
        p.error("--threads, --batch, --batches and --resolution must be >= 1, --warmup >= 0")
    return a


def list_files(folder):
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    files, labels = [], []
    for index, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(folder, name))):
            if f.lower().endswith(JPEG_EXTENSIONS):
                files.append(os.path.join(folder, name, f))
                labels.append(index)
    # one global sorted order (by path), as a sorted glob of FOLDER/*/* would give
    order = sorted(range(len(files)), key=lambda i: files[i])
    return [files[i] for i in order], [labels[i] for i in order], classes


def build_dataset(tf, files, labels, R, B, T, seed, shuffle_buffer=16384):
    """The pipeline: batches of (uint8 [B, R, R, 3], int32 [B])."""

    def load(index, element):
        path, label = element
        # per-element seeds: (seed, element index) for the crop, (seed + 1, element index) for the flip
        crop_seed = tf.stack([tf.constant(seed, tf.int64), index])
        flip_seed = tf.stack([tf.constant(seed + 1, tf.int64), index])
        data = tf.io.read_file(path)
        shape = tf.io.extract_jpeg_shape(data)
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            shape,
            bounding_boxes=tf.zeros([1, 0, 4], tf.float32),
            seed=crop_seed,
            min_object_covered=0.1,
            aspect_ratio_range=(3 / 4, 4 / 3),
            area_range=(0.08, 1.0),
            max_attempts=10,
            use_image_if_no_bounding_boxes=True,
        )
        offset_y, offset_x, _ = tf.unstack(begin)
        height, width, _ = tf.unstack(size)
        image = tf.io.decode_and_crop_jpeg(data, tf.stack([offset_y, offset_x, height, width]), channels=3)
        image = tf.image.resize(image, [R, R], method="bilinear")
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        return tf.cast(image, tf.uint8), label

    ds = tf.data.Dataset.from_tensor_slices((tf.constant(files), tf.constant(labels, tf.int32)))
    ds = ds.shuffle(min(len(files), shuffle_buffer), seed=seed).repeat().enumerate()
    ds = ds.map(load, num_parallel_calls=T, deterministic=True)
    ds = ds.batch(B, drop_remainder=True).prefetch(4)
    options = tf.data.Options()
    options.threading.private_threadpool_size = T
    options.threading.max_intra_op_parallelism = 1
    options.deterministic = True
    return ds.with_options(options)


def main(argv):
    a = parse_args(argv)
    files, labels, classes = list_files(a.folder)
    if not files:
        sys.stderr.write(f"input_tfdata: no JPEG files in class folders under {a.folder}\n")
        return 2

    import tensorflow as tf

    # before any op runs
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)

    ds = build_dataset(tf, files, labels, a.resolution, a.batch, a.threads, a.seed, a.shuffle_buffer)
    it = iter(ds)
    for _ in range(a.warmup):
        next(it)
    images = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(a.batches):
        x, _ = next(it)
        images += int(x.shape[0])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        json.dumps(
            {
                "imagesPerSecond": round(images / elapsed, 1),
                "threads": a.threads,
                "resolution": a.resolution,
                "batch": a.batch,
                "batches": a.batches,
                "seconds": round(elapsed, 3),
                "cpuSeconds": round(cpu, 3),
                "files": len(files),
                "classes": len(classes),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
