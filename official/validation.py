"""The one check of a value against a closed set of choices, with one message style.

Every module that takes a choice (a family, a checkpoint layout, a padding, a strategy,
a precision, a config field) checks it here, so a bad value always reads
"WHAT must be one of (...), got VALUE". Imports nothing: the model (any Keras backend),
the configs and the CLIs (before TensorFlow loads) all use it.
"""

__all__ = ["check_choice"]


def check_choice(what, value, allowed, error=ValueError, hint=""):
    """Returns `value` if it is one of `allowed`; else raises `error` naming `what` and the choices.

    Args:
        what: how the caller names the value: an argument (``padding``), a flag
            (``--strategy``) or a config field (``config.data.source``).
        value: the value given.
        allowed: the choices (any iterable; a dict's keys).
        error: the exception class (a ValueError subclass such as CheckpointError).
        hint: a few words appended in brackets (what the choices mean, what to do).

    Example:
        >>> check_choice("padding", "same", ("fixed", "same"))
        'same'
        >>> check_choice("padding", "valid", ("fixed", "same"))
        Traceback (most recent call last):
        ...
        ValueError: padding must be one of ('fixed', 'same'), got 'valid'
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise error(f"{what} must be one of {allowed}, got {value!r}" + (f" ({hint})" if hint else ""))
    return value
