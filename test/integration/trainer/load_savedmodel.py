"""Loads an effscale SavedModel export with Python TensorFlow and prints its serving_default predictions as JSON.

Usage: load_savedmodel.py SAVED_MODEL_DIR IMAGES.json   (IMAGES.json: {"shape": [n, h, w, c], "values": [...]})
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

model_dir, images_file = sys.argv[1], sys.argv[2]
with open(images_file) as f:
    spec = json.load(f)
images = np.asarray(spec["values"], dtype=np.float32).reshape(spec["shape"])
loaded = tf.saved_model.load(model_dir)
serve = loaded.signatures["serving_default"]
probabilities = serve(images=tf.constant(images))["probabilities"].numpy()
print(json.dumps({"tfVersion": tf.__version__, "shape": list(probabilities.shape), "values": probabilities.ravel().tolist()}))
