"""The flags that say what model a checkpoint holds: format, depth, resolution, family, crop.

A checkpoint's variables do not say which network or preprocessing they were trained with,
so every CLI that reads one takes the same five flags. `define` declares them for the CLI
that calls it (absl lists a flag in the --help of the module that declares it), so a CLI
gets these five without the --checkpoint flag of `checkpoint_flags` (predict takes --model).

Example:
    >>> from absl import flags
    >>> own = flags.FlagValues()
    >>> model = define(__name__, of="--model when it is a checkpoint", flag_values=own)
    >>> _ = own(["predict", "--depth=101", "--checkpoint_format=garden"])
    >>> model.depth.value, model.family_name()
    (101, 'garden')
    >>> model.family_name(recorded="tf1")   # what the model records wins over the format
    'tf1'
    >>> model.given(), model.pick("depth", recorded=50), model.pick("crop_padding", recorded=0)
    (['--checkpoint_format', '--depth'], 101, 0)
"""

import dataclasses

from absl import flags

from official import families


@dataclasses.dataclass(frozen=True)
class ModelFlags:
    """The five holders `define` declared."""
    checkpoint_format: flags.FlagHolder
    depth: flags.FlagHolder
    image_size: flags.FlagHolder
    family: flags.FlagHolder
    crop_padding: flags.FlagHolder

    def given(self, *names):
        """The flags among `names` (default: all five) set on the command line, as "--name"."""
        names = names or [f.name for f in dataclasses.fields(self)]
        return [f"--{name}" for name in names if getattr(self, name).present]

    def pick(self, name, recorded=None):
        """The flag's value if given on the command line, else `recorded` (what the model says), else its default."""
        holder = getattr(self, name)
        return holder.value if holder.present or recorded is None else recorded

    def family_name(self, recorded=None):
        """--family, else the family the model records, else the one --checkpoint_format implies."""
        return families.of_format(self.checkpoint_format.value, self.family.value or recorded).name


def define(module_name, of="--checkpoint", flag_values=flags.FLAGS):
    """Declares --checkpoint_format, --depth, --image_size, --family, --crop_padding for `module_name`.

    `of` names what they describe in the help texts ("--checkpoint", "--model when it is a
    checkpoint").
    """
    kw = {"module_name": module_name, "flag_values": flag_values}
    return ModelFlags(
        checkpoint_format=flags.DEFINE_enum(
            "checkpoint_format", families.TF1.checkpoint_format, list(families.FORMATS),
            f"Checkpoint format of {of}.", **kw),
        depth=flags.DEFINE_integer(
            "depth", 50, f"Network depth of {of}, where it does not record it: 50, 101, 152, 200, 270, 350 "
            "or 420.", **kw),
        image_size=flags.DEFINE_integer(
            "image_size", None, f"Resolution of {of}; default: the one it records (a sidecar, a run's "
            "record, or the official name).", **kw),
        family=flags.DEFINE_enum(
            "family", None, list(families.NAMES), f"Architecture and preprocessing family of {of}; default: "
            "the one it records, else tf1 for the tf1/native formats and garden for garden.", **kw),
        crop_padding=flags.DEFINE_integer(
            "crop_padding", families.TF1_CROP_PADDING,
            "P of the TF1 centre crop S/(S+P) (32 as in the published results).", **kw))
