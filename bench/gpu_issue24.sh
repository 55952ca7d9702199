#!/bin/sh
# Issue 24 item 7, the one prepared GPU check: run from the repository root on a lent GPU machine (the device
# tool's `run`), about 8 minutes on an H200. It measures the training speed of every preset (youandme-patch
# included) with the share of the card's bf16 peak, youandme's peak memory and largest batch, then trains the
# pixel-space youandme (84M) and youandme-patch on real clip art for 2 wall-minutes each in bf16, and copies
# gpu.json and the two sample grids to $OUT (commit them under bench/results/).
#
# Before the call, here (the machine has no network and starts bare; the clip art must travel, < 64 MiB):
#   python bench/clipart_dataset.py .gpu_data --size 256 --train 1000 --heldout 50
#   echo /.gpu_data/ >> .git/info/exclude
# then: run(command="sh bench/gpu_issue24.sh", carry=[".gpu_data"], timeout_s=600)
set -e
export PYTHONUNBUFFERED=1 PYTHONPATH=.
python3 bench/bench_gpu.py --skip-quality --flagship .gpu_data/train --flagship-minutes 2 2>&1 | tee "$OUT/gpu_log.txt"
cp bench/results/gpu.json bench/results/gpu_flagship_*.png "$OUT/" 2>/dev/null || true
