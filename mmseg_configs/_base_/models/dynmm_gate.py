# What DynMM adds to a static ESANet model: the global gate and the resource loss.
# Branch k (0..4) fuses depth in the first k encoder stages; the gate picks one per image.
# A model base or leaf that inherits this file takes the block as its model:
#     model = dict(_base_.dynmm)
# and then changes only what differs (e.g. model['loss_resource'].update(...)).
loss_ratio = 1e-4  # lambda of `task_loss + lambda * resource_loss` (--loss-ratio)
flop_budget = None  # GFLOPs that cost nothing (--flop-budget)

dynmm = dict(
    # _delete_: the static base has gate=None, which a dict cannot be merged into
    backbone=dict(gate=dict(_delete_=True, type='DynMMGlobalGate', hidden_channels=8, num_branches=5)),
    loss_resource=dict(
        type='DynMMResourceLoss',
        loss_weight=loss_ratio,
        budget=flop_budget,
        costs=None,  # None: the depth encoder's own GFLOPs per branch, measured
        reduction='mean'),  # the reference's convention, so its lambda/budget carry over
    gate_mode='soft',
    temperature=1.0,
    inference_gate='hard',  # DynMM evaluates with hard gates
    freeze_all_but_gate=False)  # --freeze
# In the random phase and with fixed/baseline gates some parameters (the gate, the
# skipped depth stages) get no gradient in a step: DDP must not wait for them.
dynmm_model_wrapper_cfg = dict(find_unused_parameters=True)
