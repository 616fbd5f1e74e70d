"""Keras twin of trainer/model.ts for bench/train.ts: builds the same architecture (an effscale Architecture JSON)
with tf.keras, trains it with Adam on fixed random batches, and prints one JSON line with images/s and peak RSS.

Usage: keras_train.py ARCH.json --batch-size 32 --warmup 3 [--max-warmup 23 --settled 1.5] --steps 10 [--jit on|off]

The warmup runs at least --warmup steps and goes on (up to --max-warmup) until a step is no slower than --settled
times the fastest warmup step before it, so tracing and XLA compilation are excluded from the timed steps.
"""
import argparse
import json
import math
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

layers = tf.keras.layers


def build(arch):
    act = arch.get("activation", "swish")
    bn_cfg = arch.get("batchNorm", {"momentum": 0.99, "epsilon": 1e-3})

    def bn(x, name):
        return layers.BatchNormalization(momentum=bn_cfg["momentum"], epsilon=bn_cfg["epsilon"], name=name)(x)

    def conv_bn_act(x, filters, kernel, stride, prefix):
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=prefix + "_conv")(x)
        return layers.Activation(act, name=prefix + "_activation")(bn(x, prefix + "_bn"))

    def squeeze_excite(x, block_in, channels, ratio, prefix):
        squeezed = max(1, math.floor(block_in * ratio))
        s = layers.GlobalAveragePooling2D(keepdims=True, name=prefix + "_se_squeeze")(x)
        s = layers.Conv2D(squeezed, 1, activation=act, name=prefix + "_se_reduce")(s)
        s = layers.Conv2D(channels, 1, activation="sigmoid", name=prefix + "_se_expand")(s)
        return layers.Multiply(name=prefix + "_se_excite")([x, s])

    def block(x, stage, first, drop_rate, prefix):
        incoming = x.shape[-1]
        block_in = stage.get("inputFilters", incoming) if first else stage["filters"]
        stride = stage["stride"] if first else 1
        e = stage.get("expandRatio", 1)
        se = stage.get("seRatio", 0)
        expanded = round(block_in * e)
        y = x
        if stage["op"] == "conv":
            y = conv_bn_act(y, stage["filters"], stage["kernel"], stride, prefix)
            if se > 0:
                y = squeeze_excite(y, block_in, stage["filters"], se, prefix)
        elif stage["op"] == "fused_mbconv" and e == 1:
            if se > 0:
                y = squeeze_excite(y, block_in, incoming, se, prefix)
            y = conv_bn_act(y, stage["filters"], stage["kernel"], stride, prefix + "_fused")
        else:
            if stage["op"] == "fused_mbconv":
                y = conv_bn_act(y, expanded, stage["kernel"], stride, prefix + "_fused")
            else:
                if e != 1:
                    y = conv_bn_act(y, expanded, 1, 1, prefix + "_expand")
                y = layers.DepthwiseConv2D(stage["kernel"], stride, padding="same", use_bias=False,
                                           name=prefix + "_dwconv")(y)
                y = layers.Activation(act, name=prefix + "_activation")(bn(y, prefix + "_bn"))
            if se > 0:
                y = squeeze_excite(y, block_in, y.shape[-1], se, prefix)
            y = layers.Conv2D(stage["filters"], 1, padding="same", use_bias=False, name=prefix + "_project_conv")(y)
            y = bn(y, prefix + "_project_bn")
        if stage.get("skip", True) and stride == 1 and incoming == stage["filters"] and block_in == stage["filters"]:
            if drop_rate > 0:
                y = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=prefix + "_drop")(y)
            y = layers.Add(name=prefix + "_add")([y, x])
        return y

    res, channels = arch["resolution"], arch.get("inputChannels", 3)
    inputs = layers.Input((res, res, channels), name="image")
    stem = arch["stem"]
    x = conv_bn_act(inputs, stem["filters"], stem.get("kernel", 3), stem.get("stride", 2), "stem")
    total = sum(s["repeats"] for s in arch["stages"])
    index = 0
    for s, stage in enumerate(arch["stages"]):
        for r in range(stage["repeats"]):
            x = block(x, stage, r == 0, arch.get("dropConnect", 0.2) * index / total, f"block{s + 1}_{r + 1}")
            index += 1
    if arch["head"]["filters"] > 0:
        x = conv_bn_act(x, arch["head"]["filters"], 1, 1, "top")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if arch.get("dropout", 0.2) > 0:
        x = layers.Dropout(arch.get("dropout", 0.2), name="top_dropout")(x)
    outputs = layers.Dense(arch["classes"], activation="softmax", name="predictions")(x)
    return tf.keras.Model(inputs, outputs, name=arch.get("name", "custom"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("arch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3, help="minimum warmup steps")
    parser.add_argument("--max-warmup", type=int, default=23)
    parser.add_argument("--settled", type=float, default=1.5)
    parser.add_argument("--steps", type=int, default=10)
    # Not Keras' default "auto": on a machine without accelerators that resolves to no XLA at all.
    parser.add_argument("--jit", choices=["on", "off"], default="on", help="XLA-compile the train step")
    args = parser.parse_args()
    with open(args.arch) as f:
        arch = json.load(f)
    model = build(arch)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  jit_compile=args.jit == "on")
    # Keras falls back (with a warning) when a layer cannot be XLA-compiled; the bench checks what it got.
    jit = bool(model.jit_compile)
    rng = np.random.default_rng(0)
    shape = (args.batch_size, arch["resolution"], arch["resolution"], arch.get("inputChannels", 3))
    x = rng.standard_normal(shape, dtype=np.float32)
    y = tf.keras.utils.to_categorical(np.arange(args.batch_size) % arch["classes"], arch["classes"])
    warmup_times = []
    settled = False
    while len(warmup_times) < max(args.warmup, args.max_warmup):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        seconds = time.perf_counter() - t0
        settled = len(warmup_times) >= max(args.warmup, 1) and seconds <= args.settled * min(warmup_times)
        warmup_times.append(seconds)
        if settled:
            break
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = model.train_on_batch(x, y)
    float(np.asarray(loss).ravel()[0])
    seconds = time.perf_counter() - start
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(sum(np.prod(w.shape) for w in model.weights))
    print(json.dumps({
        "framework": "keras",
        "xla": jit,
        "onednn": os.environ["TF_ENABLE_ONEDNN_OPTS"],
        "tfVersion": tf.__version__,
        "imagesPerSecond": args.batch_size * args.steps / seconds,
        "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "params": {"trainable": trainable, "total": total},
        "warmupSteps": len(warmup_times),
        "firstStepSeconds": warmup_times[0] if warmup_times else 0,
        "settled": settled,
    }))


if __name__ == "__main__":
    main()
