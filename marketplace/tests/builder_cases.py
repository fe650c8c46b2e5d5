"""Filter builder fields and the filter text they must write, by hand: the Python builder
(marketplace/search/builder.py) and the page's script (static/js/filter_builder.js) are both
held to these."""

from __future__ import annotations

# (fields as a person fills them, the filter they write)
WRITTEN = [
    ({}, ""),
    ({"gpu": "H100"}, "gpu=H100"),
    (
        {
            "gpu": "RTX4090",
            "gpus": "2",
            "vram": "24",
            "continent": "NA",
            "region": "us-*",
            "pricing": "spot",
            "max_price": "0.50",
            "price_per": "gpu_hour",
        },
        "gpu=RTX4090 gpus>=2 vram>=24GB continent=NA region=us-* pricing=spot gpu_price<=0.5",
    ),
    ({"gpus": "008", "max_price": "30", "price_per": "hour"}, "gpus>=8 price<=30"),
    ({"vram": "40.50"}, "vram>=40.5GB"),
    ({"vram": "0.000"}, "vram>=0GB"),
    ({"max_price": "2.5"}, "gpu_price<=2.5"),
    ({"gpus": " 4 ", "region": "  eu-west-1 "}, "gpus>=4 region=eu-west-1"),
    ({"region": "Texas, US"}, 'region="Texas, US"'),
    ({"region": 'the "big" one'}, "region='the \"big\" one'"),
    ({"region": "any"}, 'region="any"'),
    ({"continent": "EU", "pricing": "on_demand"}, "continent=EU pricing=on_demand"),
    ({"gpu": "MI300X", "keep": "observed<1h"}, "gpu=MI300X observed<1h"),
    ({"keep": "(gpu=A100 or gpu=H100)"}, "(gpu=A100 or gpu=H100)"),
]

# (fields, {field: message}) the builder refuses, whatever else is filled in
REFUSED = [
    ({"gpus": "-1"}, {"gpus": "Enter a whole number of GPUs, 1 or more."}),
    ({"gpus": "0"}, {"gpus": "Enter a whole number of GPUs, 1 or more."}),
    ({"gpus": "four"}, {"gpus": "Enter a whole number of GPUs, 1 or more."}),
    ({"gpus": "4.5"}, {"gpus": "Enter a whole number of GPUs, 1 or more."}),
    ({"vram": "80GB"}, {"vram": "Enter the memory per GPU in GB, such as 80 or 40.5."}),
    ({"vram": "1e3"}, {"vram": "Enter the memory per GPU in GB, such as 80 or 40.5."}),
    ({"vram": "-8"}, {"vram": "Enter the memory per GPU in GB, such as 80 or 40.5."}),
    (
        {"max_price": "2.1234567"},
        {"max_price": "Enter a price such as 2.5, with at most 6 decimals."},
    ),
    ({"max_price": "cheap"}, {"max_price": "Enter a price such as 2.5, with at most 6 decimals."}),
    ({"region": "a'b\"c"}, {"region": "A region cannot hold both ' and \"."}),
    ({"region": "*a*b*c*d*"}, {"region": "More than 4 wildcards in one value."}),
    ({"region": "r" * 201}, {"region": "Value longer than 200 characters."}),
    (
        {"gpus": "-2", "vram": "lots", "gpu": "H100"},
        {
            "gpus": "Enter a whole number of GPUs, 1 or more.",
            "vram": "Enter the memory per GPU in GB, such as 80 or 40.5.",
        },
    ),
]
