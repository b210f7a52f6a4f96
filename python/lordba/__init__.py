"""lordba: read, write, refine and run LoRDBA `.lba` adapters from Python.

`lordba.lba` is the reference reader and writer of the format (numpy and zstandard only); the
PyTorch parts (`lordba.torch`, `lordba.refine`, `lordba.eval`) need the `torch` extra.
"""

__version__ = "0.2.0"
