"""timm's resnetrs50 (PyTorch): training-step or inference images/s.

Runs in its own virtual environment (the CPU or CUDA build of torch that PyPI serves):

    python3 -m venv /work/peervenvs/timm
    /work/peervenvs/timm/bin/pip install torch timm

The model is `timm.create_model("resnetrs50", drop_rate=0.25)` (--model, --drop-rate); the
training step is forward, cross-entropy with label smoothing 0.1, backward, SGD (momentum 0.9, weight
decay 4e-5). timm imports torchvision at import time without using it for the model;
where no torchvision matching torch is installed, --stub-torchvision stands in for it.

Usage:
    python official/benchmarks/peers/timm_resnetrs.py --mode train --batch 32 --channels-last --compile
    python official/benchmarks/peers/timm_resnetrs.py --mode infer --batch 1 --threads 2
    python official/benchmarks/peers/timm_resnetrs.py --mode train --device cuda --amp bfloat16 --compile
Final line: RESULT {json} with img_s_median/min/max and the peak RSS in MiB.
"""

import argparse

from peer_timing import print_result, stub_torchvision_if_broken, time_steps

p = argparse.ArgumentParser()
p.add_argument("--mode", choices=["train", "infer"], required=True)
p.add_argument("--model", default="resnetrs50", help="timm model name (resnetrs50 ... resnetrs420)")
p.add_argument("--drop-rate", type=float, default=0.25, help="dropout before the head")
p.add_argument("--batch", type=int, default=32)
p.add_argument("--size", type=int, default=160)
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
p.add_argument("--amp", choices=["none", "float16", "bfloat16"], default="none",
               help="torch.autocast compute dtype (float32 weights)")
p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
p.add_argument("--compile", action="store_true", help="torch.compile (inductor)")
p.add_argument("--channels-last", action="store_true")
p.add_argument("--tf32", action="store_true", help="CUDA float32 matrix products and convolutions "
               "in TF32 (what XLA does by default on Ampere and Hopper)")
p.add_argument("--stub-torchvision", action="store_true")
p.add_argument("--reps", type=int, default=4)
p.add_argument("--rep-seconds", type=float, default=4.0)
a = p.parse_args()


# Only where the venv's own torchvision cannot be imported (peer_timing.py says why).
if a.stub_torchvision:
    stub_torchvision_if_broken()
import torch  # noqa: E402
import timm  # noqa: E402

if a.threads:
    torch.set_num_threads(a.threads)
if a.device == "cuda" and not torch.cuda.is_available():
    raise SystemExit("--device cuda: torch sees no CUDA device in this environment")
device = torch.device(a.device)
layout = torch.channels_last if a.channels_last else torch.contiguous_format
if a.device == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
model = timm.create_model(a.model, pretrained=False, num_classes=1000, drop_rate=a.drop_rate)
model = model.to(device=device, memory_format=layout)
images = torch.randn(a.batch, 3, a.size, a.size, device=device).to(memory_format=layout)
amp = dict(device_type=a.device, dtype=getattr(torch, a.amp), enabled=a.amp != "none") \
    if a.amp != "none" else dict(device_type=a.device, enabled=False)


def sync():
    if a.device == "cuda":
        torch.cuda.synchronize()


if a.mode == "infer":
    model.eval()
    forward = torch.compile(model) if a.compile else model

    def step():
        with torch.inference_mode(), torch.autocast(**amp):
            forward(images)
        sync()
else:
    model.train()
    labels = torch.randint(0, 1000, (a.batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=4e-5)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    scaler = torch.amp.GradScaler(a.device, enabled=a.amp == "float16")

    def forward_backward(x, y):
        with torch.autocast(**amp):
            loss = criterion(model(x), y)
        scaler.scale(loss).backward()
        return loss

    fb = torch.compile(forward_backward) if a.compile else forward_backward

    def step():
        optimizer.zero_grad(set_to_none=True)
        fb(images, labels)
        scaler.step(optimizer)
        scaler.update()
        sync()

result = time_steps(step, a.batch, a.reps, a.rep_seconds)
print_result(dict(system=f"timm {timm.__version__} / torch {torch.__version__}", model=a.model,
                  mode=a.mode, tf32=a.tf32, batch=a.batch, size=a.size, device=a.device, amp=a.amp, compile=a.compile,
                  channels_last=a.channels_last, threads=torch.get_num_threads(), **result))
