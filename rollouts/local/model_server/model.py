"""A small fraud scorer: a two-hidden-layer MLP whose forward pass is real arithmetic.

The weights come from a seed, so every process started with the same seed serves the same
model, and versions differ only by the switches they run with. The output layer is calibrated
at load time on a generated reference sample so that scores look like a fraud model's: the
logit over typical traffic has mean −2 and standard deviation 1.5, so the mean score is about
0.19 and about 9% of requests score 0.5 or more (class ``fraud``); a ``score_shift`` of +1
moves them to about 0.34 and 26%.

Two forward passes compute the same function:

- ``gpu``: one matrix-vector product per layer (numpy, BLAS) — the accelerator's fast path;
- ``cpu``: the same products one multiply-add at a time over Python floats — the silent CPU
  fallback. It is real work, not a sleep, and agrees with the fast path to ~1e-12.

The hidden sizes are chosen so that a cpu-path request takes about 40 times as long as a
fast-path one, HTTP handling included (``bench/model_server.py`` measures it: medians of
0.15–0.45 ms and 6–16 ms on a shared 2-core machine); they are not a model-quality choice.
The absolute numbers are far below a real GPU model's; what the analysis sees, and what the
tests need, is the ratio, at a CPU cost a shared test machine can afford.
"""

from __future__ import annotations

import itertools
import math
import operator
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rollouts.local.model_server.config import Device

FEATURE_COUNT = 32
"""Length of the feature vector a request carries."""

HIDDEN_SIZES = (576, 576)
FRAUD_THRESHOLD = 0.5
"""Scores at or above this are class ``fraud``, below it ``legit``."""

CLASSES = ("legit", "fraud")

_TARGET_LOGIT_MEAN = -2.0
_TARGET_LOGIT_STD = 1.5
_CALIBRATION_SAMPLE = 512


def sample_features(rng: random.Random) -> list[float]:
    """Features of one typical request: independent standard normals, as the model was calibrated on."""
    return [rng.gauss(0.0, 1.0) for _ in range(FEATURE_COUNT)]


@dataclass(frozen=True)
class Prediction:
    """A score in [0, 1] and its class, or ``valid=False`` when the forward pass produced NaN."""

    score: float
    label: str
    valid: bool


def _sigmoid(logit: float) -> float:
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    exp = math.exp(logit)
    return exp / (1.0 + exp)


def _relu(value: float) -> float:
    # max() keeps a NaN first argument, so a NaN input stays NaN through every layer.
    return max(value, 0.0)


class FraudScorer:
    """The MLP ``FEATURE_COUNT → *HIDDEN_SIZES → 1`` with ReLU, float64, weights drawn from ``seed``."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        sizes = (FEATURE_COUNT, *HIDDEN_SIZES)
        # He initialisation keeps activations of a ReLU network at a stable scale.
        self._hidden: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = [
            (rng.standard_normal((fan_out, fan_in)) * math.sqrt(2.0 / fan_in), rng.normal(0.0, 0.1, fan_out))
            for fan_in, fan_out in itertools.pairwise(sizes)
        ]
        raw_output = rng.standard_normal(sizes[-1]) / math.sqrt(sizes[-1])
        reference = rng.standard_normal((_CALIBRATION_SAMPLE, FEATURE_COUNT))
        raw_logits = self._last_hidden(reference) @ raw_output
        scale = _TARGET_LOGIT_STD / float(raw_logits.std())
        self._output_weights = raw_output * scale
        self._output_bias = _TARGET_LOGIT_MEAN - float(raw_logits.mean()) * scale
        self._hidden_lists = [(weights.tolist(), biases.tolist()) for weights, biases in self._hidden]
        self._output_list: list[float] = self._output_weights.tolist()

    def _last_hidden(self, inputs: NDArray[np.float64]) -> NDArray[np.float64]:
        activations = inputs
        for weights, biases in self._hidden:
            activations = np.maximum(activations @ weights.T + biases, 0.0)
        return activations

    def logit(self, features: Sequence[float], device: Device) -> float:
        """The model's logit for one feature vector, computed on ``device``."""
        if device is Device.GPU:
            hidden = self._last_hidden(np.asarray(features, dtype=np.float64))
            return float(hidden @ self._output_weights) + self._output_bias
        activations = list(features)
        for weights, biases in self._hidden_lists:
            activations = [
                _relu(sum(map(operator.mul, row, activations)) + bias)
                for row, bias in zip(weights, biases, strict=True)
            ]
        return float(sum(map(operator.mul, self._output_list, activations))) + self._output_bias

    def predict(self, features: Sequence[float], device: Device, score_shift: float = 0.0) -> Prediction:
        """Score one request; ``score_shift`` is added to the logit (a real distribution shift)."""
        logit = self.logit(features, device) + score_shift
        if math.isnan(logit):
            return Prediction(score=math.nan, label="invalid", valid=False)
        score = _sigmoid(logit)
        return Prediction(score=score, label=CLASSES[score >= FRAUD_THRESHOLD], valid=True)
