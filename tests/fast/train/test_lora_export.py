"""Export round trip: GGUF adapter tensors equal the peft weights (after llama.cpp's q/k permutation)."""
from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
import torch

from agentspec.train.export import GGUF_NAMES, export_adapter, export_merged, load_peft_adapter, permute
from tiny_lora_fixtures import tiny_llama

N_HEAD, N_KV = 4, 2


def _write_base_gguf(model, path):
    """The tiny HF llama in llama.cpp's layout (q/k rows permuted as convert_hf_to_gguf does)."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("llama.attention.head_count", N_HEAD)
    w.add_uint32("llama.attention.head_count_kv", N_KV)
    w.add_string("tokenizer.chat_template", "{{ messages }}")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "<e>"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    for i, layer in enumerate(model.model.layers):
        for module, name in GGUF_NAMES.items():
            parent = layer.self_attn if "proj" in module and module[0] in "qkvo" else layer.mlp
            weight = getattr(parent, module).weight.detach().numpy().copy()
            if module in ("q_proj", "k_proj"):
                weight = permute(weight, N_HEAD if module == "q_proj" else N_KV)
            w.add_tensor(f"blk.{i}.{name}.weight", weight)
        w.add_tensor(f"blk.{i}.attn_norm.weight", layer.input_layernorm.weight.detach().numpy().copy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture
def trained(tmp_path):
    """A peft adapter with non-zero B (as after training) and its base GGUF recorded in train.json."""
    from peft import LoraConfig, get_peft_model

    model = tiny_llama()
    base = tmp_path / "base.gguf"
    _write_base_gguf(model, base)
    torch.manual_seed(1)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                                  init_lora_weights=False))
    out = tmp_path / "run"
    peft_model.save_pretrained(str(out / "adapter"))
    (out / "train.json").write_text(json.dumps({"base_gguf": str(base)}))
    return out, peft_model


def test_permute_inverts_transformers_gguf_unpermute():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    w = np.arange(8 * 3 * 5, dtype=np.float32).reshape(24, 5)
    proc = LlamaTensorProcessor()
    assert np.array_equal(proc._reverse_permute_weights(permute(w, 4), 4, 4), w)
    assert np.array_equal(proc._reverse_permute_weights(permute(w, 2), 4, 2), w)


def test_gguf_adapter_holds_the_peft_weights(trained, tmp_path):
    out, peft_model = trained
    path = export_adapter(out, tmp_path / "export")
    reader = gguf.GGUFReader(str(path))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(8.0)
    tensors = {t.name: np.asarray(t.data).reshape([int(x) for x in reversed(t.shape)]) for t in reader.tensors}
    assert len(tensors) == 2 * 4 * 2
    for i, layer in enumerate(peft_model.base_model.model.model.layers):
        for module in ("q_proj", "k_proj", "v_proj", "o_proj"):
            lora = getattr(layer.self_attn, module)
            a = lora.lora_A["default"].weight.detach().numpy()
            b = lora.lora_B["default"].weight.detach().numpy()
            if module in ("q_proj", "k_proj"):
                b = permute(b, N_HEAD if module == "q_proj" else N_KV)
            name = f"blk.{i}.{GGUF_NAMES[module]}.weight"
            assert tensors[f"{name}.lora_a"].shape == (4, 64)
            np.testing.assert_array_equal(tensors[f"{name}.lora_a"], a)
            np.testing.assert_array_equal(tensors[f"{name}.lora_b"], b)


def test_merged_gguf_equals_peft_merge_in_llama_cpp_layout(trained, tmp_path):
    out, peft_model = trained
    written = export_merged(out, tmp_path / "export", quants=[])
    reader = gguf.GGUFReader(str(written["F16"]))
    assert reader.fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_F16)
    assert reader.fields["tokenizer.ggml.tokens"].contents() == ["a", "b", "<e>"]
    merged = peft_model.merge_and_unload()
    tensors = {t.name: t for t in reader.tensors}
    for i, layer in enumerate(merged.model.layers):
        for module in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj"):
            parent = layer.self_attn if module[0] in "qkvo" else layer.mlp
            expected = getattr(parent, module).weight.detach().numpy()
            if module in ("q_proj", "k_proj"):
                expected = permute(expected, N_HEAD if module == "q_proj" else N_KV)
            t = tensors[f"blk.{i}.{GGUF_NAMES[module]}.weight"]
            assert t.tensor_type == gguf.GGMLQuantizationType.F16
            got = np.asarray(t.data, dtype=np.float32).reshape(expected.shape)
            np.testing.assert_allclose(got, expected, atol=2e-3, rtol=2e-3)


def test_adapter_reader_reports_rank_and_scale(trained):
    out, _ = trained
    ad = load_peft_adapter(out)
    assert ad.rank == 4 and ad.scale == pytest.approx(2.0) and len(ad.pairs) == 8
