# Runtime settings of MMSeg 1.x (scope, environment, visualiser, logging), kept here
# rather than inherited with 'mmseg::_base_/default_runtime.py': resolving an
# 'mmseg::' base makes mmengine import pkg_resources, which prints deprecation
# warnings on every config load (every tool call and `mim train/test`).
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='SegTTAModel')
