"""Training: the Trainer mixin (compile/fit/evaluate/predict), data adapters and callbacks."""
