import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getPreset } from '../../../scaling/presets.js';
import { ServingEngine } from '../../../serve/engine.js';
import { arraySource, writeImage } from '../../../serve/pixels.js';
import { buildModel } from '../../../trainer/model.js';
import { preprocessImages, type InputShape } from '../../../trainer/preprocess.js';
import { loadNativeTf } from '../../../trainer/tf.js';

const tf = loadNativeTf();
type Tensor2D = import('@tensorflow/tfjs-node').Tensor2D;
type Tensor4D = import('@tensorflow/tfjs-node').Tensor4D;

test("a model trained on image files is served its validation crop by the graph, as the trainer's preprocessing does", () => {
  const architecture = getPreset('micro-28');
  const model = buildModel(architecture, tf);
  const input = { resolution: 28, inputChannels: 1, cropPct: 0.875 };
  const engine = ServingEngine.load(tf, architecture, model, input);
  try {
    for (const [height, width] of [
      [40, 64],
      [72, 36],
    ]) {
      // A frame the crop cuts off around a textured middle it keeps.
      const values = Float32Array.from({ length: height * width }, (_, i) => {
        const [y, x] = [Math.floor(i / width), i % width];
        const frame = Math.min(x, width - 1 - x, y, height - 1 - y) < Math.min(height, width) / 8;
        return frame ? 255 : (x * 7 + y * 13) % 128;
      });
      const batch = new Float32Array(engine.slot);
      writeImage(arraySource(values, height, width, 1), batch, 0, engine);
      const image = tf.tensor4d(values, [1, height, width, 1]) as Tensor4D;
      // The trainer's network input, back in 0–255: what the graph's `pixels` must hold.
      const pixels = (shape: InputShape) =>
        tf.tidy(() => Array.from(tf.mul(tf.add(preprocessImages(tf, image, shape), 1), 127.5).dataSync()));
      const gap = (other: number[]) => Math.max(...other.map((v, i) => Math.abs(v - batch[i])));
      assert.ok(gap(pixels(input)) < 1e-3, `${height}×${width}: served pixels differ by ${gap(pixels(input))}`);
      const uncropped = gap(pixels({ resolution: 28, inputChannels: 1 }));
      assert.ok(uncropped > 50, `the crop changes the input (else this test could not see it missing): ${uncropped}`);
      const want = tf.tidy(() => (model.predict(preprocessImages(tf, image, input)) as Tensor2D).arraySync()[0]);
      engine.predict(batch, 1).forEach((p, c) => assert.ok(Math.abs(p - want[c]) < 1e-5));
      image.dispose();
    }
  } finally {
    engine.dispose();
    model.dispose();
  }
});
