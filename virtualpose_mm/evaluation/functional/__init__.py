"""Pure numpy metric functions (no mmengine): Panoptic AP, Shelf/Campus PCP, MuPoTS 3DPCK."""
from .mupots_io import (load_mupots_predictions, load_mupots_sequence,  # noqa: F401
                        load_mupots_test_set)
from .mupots_pck import (MUPOTS_AUC_THRESHOLDS, MUPOTS_MODES, MUPOTS_UNMATCHED_VALUE,  # noqa
                         compute_3d_pck, evaluate_mupots, map_to_gt_bone_lengths,
                         masked_error_table, mpjpe_table, mupots_frame_errors,
                         mupots_frames_from_arrays, mupots_identity_matching, mupots_pred_key,
                         mupots_sequence_errors, parse_mode)
from .panoptic_ap import (PANOPTIC_AP_THRESHOLDS, eval_list_to_ap,  # noqa: F401
                          eval_list_to_aps, eval_list_to_mpjpe, eval_list_to_recall,
                          greedy_matches, merge_frame_evals, panoptic_ap_metrics,
                          panoptic_frame_eval)
from .pcp import pcp_frame_parts, pcp_table, shelf_campus_pcp  # noqa: F401
