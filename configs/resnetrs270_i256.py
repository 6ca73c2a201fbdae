# The recipe of the published resnet-rs-270-i256; its docstring and values come from official/published.py.
from configs import common

get_config = common.published_config("resnet-rs-270-i256")
__doc__ = get_config.__doc__
