import type { Dataset } from '../schemas/task.js';

/** Fashion-MNIST's class names by label, from the dataset's documentation (zalandoresearch/fashion-mnist). */
export const FASHION_MNIST_LABELS = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/**
 * Class names for the predictions: the registry's own list when it has one (image folders name their classes),
 * else the dataset's known names, else the label indices.
 */
export function classLabels(
  classes: number,
  dataset: Dataset | undefined,
  registered: readonly string[] | undefined,
): string[] {
  if (registered && registered.length === classes) return [...registered];
  if (dataset?.format === 'fashion-mnist' && classes === FASHION_MNIST_LABELS.length) return FASHION_MNIST_LABELS;
  return Array.from({ length: classes }, (_, i) => String(i));
}
