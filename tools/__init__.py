"""The CLIs: thin absl wrappers over the library in `official/`."""

import sys


def show_flags_in_help(module_name):
    """Makes `--help` of a console script list the tool's flags.

    absl's --help lists the flags of the module named by sys.argv[0]; for a console
    script that is the generated stub, not the tool module that defines them.
    """
    from absl import flags  # pylint: disable=g-import-not-at-top
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
