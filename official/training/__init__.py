"""The trainer: `recipes` (the shared recipe; recipe files by name), `config` (checks, run lengths,
precision), `inputs`, `state`, `step`, `loop` (`train_and_evaluate`), `evaluation`,
`optimizer` (TF1 and Keras momentum rules), `schedules`, `ema`.

Example:
    >>> from official.training import recipes
    >>> recipes.recipe(depth=50, image_size=160, dropout_rate=0.25, drop_connect_rate=0.0,
    ...                randaug_magnitude=10).train.global_batch_size
    4096
"""

__all__ = ["config", "ema", "evaluation", "inputs", "loop", "optimizer", "recipes", "schedules", "state", "step"]
