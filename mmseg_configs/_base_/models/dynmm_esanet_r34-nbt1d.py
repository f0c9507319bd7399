# DynMM on ESANet R34-NBt1D: the static model plus the global gate and the resource loss
# (dynmm_gate.py).
_base_ = ['./esanet_r34-nbt1d.py', './dynmm_gate.py']

model = dict(_base_.dynmm)
model_wrapper_cfg = _base_.dynmm_model_wrapper_cfg
