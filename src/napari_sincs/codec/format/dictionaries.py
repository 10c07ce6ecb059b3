"""The raw-content zstd dictionaries the header is compressed with, one per major format version.

A dictionary is part of its format version and never changes: a reader picks it by the file's
major version. Each is typical header text in the header's compact JSON, so that the few hundred
bytes of keys and usual values cost almost nothing in a file of a few hundred bytes.
"""

from __future__ import annotations

import zstandard

# Format 1: one typical PE-MLP header of its time.
HEADER_DICTIONARY_1 = (
    b'{"array":{"axes":"tczyx","dtype":"uint16","shape":[10,2,20,256,256]},"codec":{"name":'
    b'"napari-sincs","version":"0.1.0"},"coding":{"bits":7.469,"residual":true},"config":'
    b'{"batch_size":1024,"block":null,"depth":3,"device":"auto","family":"pe_mlp",'
    b'"frequencies":null,"keyframe_interval":16,"learning_rate":0.005,"ratio":100.0,'
    b'"residual_coding":true,"saliency":"threshold","saliency_floor":0.3,"seed":0,"steps":6000,'
    b'"threshold":null,"time_groups":null,"transfer_steps":null,"weight_bits":9.0,'
    b'"weight_transfer":true,"width":null},"intensity":{"max":[255.0],"min":[0.0]},"meta":'
    b'{"channel_names":["channel 0"],"name":"image","scale":{"t":1.0,"x":0.1,"y":0.1,"z":0.5},'
    b'"units":{"t":"s","x":"\\u00b5m","y":"\\u00b5m","z":"\\u00b5m"}},"model":{"axes":["t","z",'
    b'"y","x"],"depth":3,"extents":[4,16,128,128],"family":"pe_mlp","frequencies":[1,3,6,6],'
    b'"width":22},"plan":{"block":[31,61,57],"keyframe_interval":16,"time_groups":1},"stats":'
    b'{"device":"cpu","psnr":30.0,"ssim":0.9}}'
)

# Format 2: headers the codec wrote on small crops of the shared images (a feature-grid time
# series, PE-MLP volume and time series, latent volume, channels and time series, the most
# common last), with a generic name, metadata and stats; it takes a latent file's header from
# about 300 bytes to about 130.
HEADER_DICTIONARY_2 = (
    b'{"array":{"axes":"tyx","dtype":"uint16","shape":[8,64,64]},"codec":{"name":"napari-sin'
    b'cs","version":"0.1.0"},"coding":{"bits":7.078,"residual":true},"config":{"batch_size":'
    b'4096,"block":null,"depth":2,"device":"auto","family":"grid","features":null,"frequenci'
    b'es":null,"grid_levels":3,"keyframe_interval":16,"learning_rate":0.01,"max_error":null,'
    b'"output_refit":true,"preset":"balanced","psnr":null,"ratio":100.0,"residual_coding":tr'
    b'ue,"saliency":"uniform","saliency_floor":0.3,"seed":0,"steps":2000,"threshold":null,"t'
    b'ime_groups":null,"transfer_steps":666,"weight_bits":9.0,"weight_transfer":true,"width"'
    b':null},"intensity":{"max":[30678.0],"min":[887.0]},"meta":{"channel_names":[],"name":"'
    b'image","scale":{"t":60.0,"x":1.0,"y":1.0},"units":{"t":"s","x":"\\u00b5m","y":"\\u00b5m"'
    b'}},"model":{"axes":["t","y","x"],"depth":2,"extents":[8,64,64],"family":"grid","featur'
    b'es":1,"levels":[4,3,2],"width":16},"plan":{"block":[1,64,64],"keyframe_interval":16,"t'
    b'ime_groups":1},"stats":{"device":"cpu","max_abs_error":1234.0,"max_abs_error_at":[0,0,'
    b'0],"psnr":34.56,"ssim":0.8765}}{"array":{"axes":"tzyx","dtype":"int16","shape":[2,8,32'
    b',32]},"codec":{"name":"napari-sincs","version":"0.1.0"},"coding":{"bits":7.359,"residu'
    b'al":true},"config":{"batch_size":1024,"block":null,"depth":3,"device":"auto","family":'
    b'"pe_mlp","features":null,"frequencies":null,"grid_levels":3,"keyframe_interval":16,"le'
    b'arning_rate":0.005,"max_error":null,"output_refit":true,"preset":"balanced","psnr":nul'
    b'l,"ratio":100.0,"residual_coding":true,"saliency":"threshold","saliency_floor":0.3,"se'
    b'ed":0,"steps":6000,"threshold":null,"time_groups":null,"transfer_steps":2000,"weight_b'
    b'its":9.0,"weight_transfer":true,"width":null},"intensity":{"max":[881.0],"min":[0.0]},'
    b'"meta":{"channel_names":[],"name":"image","scale":{"t":2.0,"x":3.0,"y":3.0,"z":3.0},"u'
    b'nits":{"t":"s","x":"mm","y":"mm","z":"mm"}},"model":{"axes":["z","y","x"],"depth":3,"e'
    b'xtents":[8,32,32],"family":"pe_mlp","frequencies":[2,4,4],"width":16},"plan":{"block":'
    b'[8,32,32],"keyframe_interval":16,"time_groups":2},"stats":{"device":"cpu","max_abs_err'
    b'or":1234.0,"max_abs_error_at":[0,0,0],"psnr":34.56,"ssim":0.8765}}{"array":{"axes":"zy'
    b'x","dtype":"uint16","shape":[16,48,48]},"codec":{"name":"napari-sincs","version":"0.1.'
    b'0"},"coding":{"bits":7.266,"residual":true},"config":{"batch_size":1024,"block":null,"'
    b'depth":3,"device":"auto","family":"pe_mlp","features":null,"frequencies":null,"grid_le'
    b'vels":3,"keyframe_interval":16,"learning_rate":0.005,"max_error":null,"output_refit":t'
    b'rue,"preset":"balanced","psnr":null,"ratio":100.0,"residual_coding":true,"saliency":"t'
    b'hreshold","saliency_floor":0.3,"seed":0,"steps":6000,"threshold":null,"time_groups":nu'
    b'll,"transfer_steps":2000,"weight_bits":9.0,"weight_transfer":true,"width":null},"inten'
    b'sity":{"max":[375.0],"min":[112.0]},"meta":{"channel_names":[],"name":"image","scale":'
    b'{"x":0.5,"y":0.5,"z":1.0},"units":{"x":"\\u00b5m","y":"\\u00b5m","z":"\\u00b5m"}},"model"'
    b':{"axes":["z","y","x"],"depth":3,"extents":[16,48,48],"family":"pe_mlp","frequencies":'
    b'[3,5,5],"width":23},"plan":{"block":[16,48,48],"keyframe_interval":16,"time_groups":1}'
    b',"stats":{"device":"cpu","max_abs_error":1234.0,"max_abs_error_at":[0,0,0],"psnr":34.5'
    b'6,"ssim":0.8765}}{"array":{"axes":"zyx","dtype":"uint8","shape":[16,64,64]},"codec":{"'
    b'name":"napari-sincs","version":"0.1.0"},"coding":{"bits":8.0,"residual":true},"config"'
    b':{"batch_size":135000,"block":null,"depth":2,"device":"auto","family":"latent","featur'
    b'es":null,"frequencies":null,"grid_levels":3,"keyframe_interval":16,"learning_rate":0.0'
    b'1,"max_error":null,"output_refit":true,"preset":"balanced","psnr":null,"ratio":100.0,"'
    b'residual_coding":true,"saliency":"threshold","saliency_floor":0.3,"seed":0,"steps":nul'
    b'l,"threshold":null,"time_groups":null,"transfer_steps":null,"weight_bits":9.0,"weight_'
    b'transfer":true,"width":null},"intensity":{"max":[156.0],"min":[1.0]},"meta":{"channel_'
    b'names":[],"name":"image","scale":{"x":0.1,"y":0.1,"z":0.2},"units":{"x":"\\u00b5m","y":'
    b'"\\u00b5m","z":"\\u00b5m"}},"model":{"arm":[8],"axes":["z","y","x"],"d_lag":1,"extents":'
    b'[16,64,64],"family":"latent","first":1,"levels":6,"slab":4,"synthesis":[8]},"plan":{"b'
    b'lock":[16,64,64],"keyframe_interval":16,"time_groups":1},"requires":["latent","latent-'
    b'slabs"],"stats":{"device":"cpu","max_abs_error":1234.0,"max_abs_error_at":[0,0,0],"psn'
    b'r":34.56,"ssim":0.8765}}{"array":{"axes":"cyx","dtype":"uint16","shape":[3,96,96]},"co'
    b'dec":{"name":"napari-sincs","version":"0.1.0"},"coding":{"bits":8.0,"residual":true},"'
    b'config":{"batch_size":135000,"block":null,"depth":2,"device":"auto","family":"latent",'
    b'"features":null,"frequencies":null,"grid_levels":3,"keyframe_interval":16,"learning_ra'
    b'te":0.01,"max_error":null,"output_refit":true,"preset":"balanced","psnr":null,"ratio":'
    b'100.0,"residual_coding":true,"saliency":"threshold","saliency_floor":0.3,"seed":0,"ste'
    b'ps":null,"threshold":null,"time_groups":null,"transfer_steps":null,"weight_bits":9.0,"'
    b'weight_transfer":true,"width":null},"intensity":{"max":[1291.0,1517.0,1539.0],"min":[2'
    b'60.0,265.0,203.0]},"meta":{"channel_names":["channel 0","channel 1","channel 2"],"name'
    b'":"image","scale":{"x":0.0645,"y":0.0645},"units":{"x":"\\u00b5m","y":"\\u00b5m"}},"mode'
    b'l":{"arm":[12,12],"axes":["y","x"],"d_lag":1,"extents":[96,96],"family":"latent","firs'
    b't":1,"levels":6,"synthesis":[12,12]},"plan":{"block":[1,96,96],"keyframe_interval":16,'
    b'"time_groups":1},"requires":["latent"],"stats":{"device":"cpu","max_abs_error":1234.0,'
    b'"max_abs_error_at":[0,0,0],"psnr":34.56,"ssim":0.8765}}{"array":{"axes":"tyx","dtype":'
    b'"uint16","shape":[8,64,64]},"codec":{"name":"napari-sincs","version":"0.1.0"},"coding"'
    b':{"bits":8.0,"residual":true},"config":{"batch_size":135000,"block":null,"depth":2,"de'
    b'vice":"auto","family":"latent","features":null,"frequencies":null,"grid_levels":3,"key'
    b'frame_interval":16,"learning_rate":0.01,"max_error":null,"output_refit":true,"preset":'
    b'"balanced","psnr":null,"ratio":100.0,"residual_coding":true,"saliency":"threshold","sa'
    b'liency_floor":0.3,"seed":0,"steps":null,"threshold":null,"time_groups":null,"transfer_'
    b'steps":null,"weight_bits":9.0,"weight_transfer":true,"width":null},"intensity":{"max":'
    b'[30678.0],"min":[887.0]},"meta":{"channel_names":[],"name":"image","scale":{"t":1.0,"x'
    b'":0.65,"y":0.65},"units":{"t":"s","x":"\\u00b5m","y":"\\u00b5m"}},"model":{"arm":[12,12]'
    b',"axes":["t","y","x"],"d_lag":1,"extents":[8,64,64],"family":"latent","first":1,"level'
    b's":6,"slab":4,"synthesis":[12,12]},"plan":{"block":[1,64,64],"keyframe_interval":16,"t'
    b'ime_groups":1},"requires":["latent","latent-slabs"],"stats":{"device":"cpu","max_abs_e'
    b'rror":1234.0,"max_abs_error_at":[0,0,0],"psnr":34.56,"ssim":0.8765}}'
)

DICTIONARIES = {
    major: zstandard.ZstdCompressionDict(text, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    for major, text in ((1, HEADER_DICTIONARY_1), (2, HEADER_DICTIONARY_2))
}
