import type { PlanWeight } from '../../scaling/layer-plan.js';
import { weightKey } from './program.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type LayerVariable = LayersModel['weights'][number];

/**
 * The tfjs model's variable of each plan weight (same layer, same weight name, same shape). The model and the graph
 * are both built from the layer plan, so a mismatch — a model saved before the plan named its layers this way, or a
 * bug — stops with the weight that differs rather than training or exporting the wrong numbers.
 */
export function planVariables(model: LayersModel, weights: PlanWeight[]): LayerVariable[] {
  const variables = weights.map((w) => {
    const layer = model.layers.find((l) => l.name === w.layer);
    const variable = layer?.weights.find((v) => v.originalName.endsWith(`/${w.weight}`));
    if (!variable || variable.shape.join() !== w.shape.join()) {
      const found = variable ? `[${variable.shape.join(', ')}]` : layer ? 'no such weight' : 'no such layer';
      throw new Error(
        `model ${model.name} does not match its layer plan: ${weightKey(w)} [${w.shape.join(', ')}]: ${found}`,
      );
    }
    return variable;
  });
  if (new Set(variables).size !== model.weights.length) {
    throw new Error(
      `model ${model.name} does not match its layer plan: the plan covers ${new Set(variables).size} of its ` +
        `${model.weights.length} weights`,
    );
  }
  return variables;
}
