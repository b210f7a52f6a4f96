"""Run `.lba` adapters unmerged in PyTorch models (`transformers` and any `nn.Module` whose linear
layers carry the adapter's module paths).

    from lordba.torch import attach, swap, detach, to_peft_state_dict
    attach(model, "math.lba", packed=True)     # 1 bit per sign in memory, the compiled sign GEMM
    attach(model, "code.lba", packed=True)     # now active
    swap(model, "math")                        # one attribute set: no allocation, no weight copied
    detach(model)                              # every adapter and hook removed

`packed=False` holds the signs as ±1 float32 matrices and runs plain matmuls (any device).
"""

from lordba.torch.attach import Adapter, AttachError, active, adapters, attach, detach, swap
from lordba.torch.peft import to_peft_state_dict

__all__ = ["Adapter", "AttachError", "active", "adapters", "attach", "detach", "swap", "to_peft_state_dict"]
