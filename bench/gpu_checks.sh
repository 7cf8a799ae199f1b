#!/bin/bash
# The CUDA checks of issue 10, as one bounded script for a lent GPU (a run there is short and
# cannot be watched): the GPU tests, bf16 training through the CLI, `causalclf bench` (MFU),
# the head's inference against the matmul peak, the server under load, and the sharded configs.
#
#   pip install -e '.[dev,serve,gpu]' deepspeed     # once, on the GPU machine
#   bash bench/gpu_checks.sh [OUT]                  # OUT: where logs and JSON go (default /tmp/gpu-checks)
#
# No weights travel: the backbones are random with real shapes (bench/random_backbone.py), so the
# figures are speed and memory only. Every step has a time limit and goes on after a failure.
# bench/results/gpu_h200_checks.json records what an H200 run gave.
set -u
O=${1:-/tmp/gpu-checks}; W=/tmp/gpu-checks-work; mkdir -p "$O" $W
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
T0=$(date +%s)
t() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

t versions
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$O/nvidia_smi.txt"
python3 -c "import torch, transformers, peft, accelerate, bitsandbytes
print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__,
      'accelerate', accelerate.__version__, 'bitsandbytes', bitsandbytes.__version__)" | tee "$O/versions.txt"

t "GPU tests: 4-bit NF4 head and instruction tuning, bf16 checkpoints and resume, FSDP and ZeRO on the GPUs there"
timeout 600 python3 -m pytest -p no:cacheprovider -q -rA --junitxml="$O/gpu_tests.xml" \
  "tests/methods/test_embedding_head.py::test_4bit_nf4_lora_trains_predicts_and_reloads_to_the_same_probabilities" \
  "tests/training/test_checkpoints.py::test_bf16_and_4bit_training_checkpoints_its_trainable_weights_and_resumes" \
  "tests/methods/test_instruction.py::test_4bit_nf4_instruction_tuning_answers_and_reloads_to_the_same_probabilities" \
  "tests/training/test_distributed.py::test_the_sharded_configs_train_on_gpus" > "$O/gpu_tests.log" 2>&1
tail -15 "$O/gpu_tests.log"

t "bf16 LoRA head on a random smollm2-135m, through the CLI"
timeout 120 python3 bench/random_backbone.py smollm2-135m $W/smollm2-random
cat > $W/train.yaml <<EOF
data: bbc-news
method: embedding_head
model: $W/smollm2-random
max_length: 256
training: {max_steps: 20, batch_size: 8, progress_bar: false}
output_dir: $W/run-smollm2
EOF
timeout 300 python3 -m causalclf train $W/train.yaml > "$O/train_smollm2.log" 2>&1
cp $W/run-smollm2/metrics.json "$O/train_smollm2_metrics.json"

t "causalclf bench (MFU) and the head against the matmul peak"
timeout 300 python3 -m causalclf bench $W/run-smollm2/model --limit 256 --batch-sizes 1 8 32 128 --repeats 3 \
  -o "$O/bench_smollm2.json"
timeout 300 python3 bench/head_inference.py --model-dir $W/run-smollm2/model --texts 256 --batch-size 32 --repeats 3 \
  && cp bench/results/head_inference_cuda.json "$O/"

t "the server under 16 clients, micro-batching on and off (needs ../shared/data/ag_news)"
timeout 600 python3 bench/serve_load.py $W/run-smollm2/model --requests 2000 --clients 16 --rounds 2 \
  --name gpu-smollm2-random && cp bench/results/serve_load_gpu-smollm2-random.json "$O/"

t "a Llama-3.2-1B-shaped backbone: bench only"
timeout 300 python3 bench/random_backbone.py smollm2-135m $W/llama1b-random --shape llama-3.2-1b
sed -e "s#smollm2-random#llama1b-random#; s#run-smollm2#run-llama1b#" $W/train.yaml > $W/train_1b.yaml
timeout 300 python3 -m causalclf train $W/train_1b.yaml > "$O/train_llama1b.log" 2>&1
timeout 300 python3 -m causalclf bench $W/run-llama1b/model --limit 256 --batch-sizes 1 8 32 128 --repeats 2 \
  -o "$O/bench_llama1b.json"
t done
