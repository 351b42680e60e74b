#!/usr/bin/env python
"""radreport's command line (also installed as `radreport`): `python run.py --help` lists the commands.

    python run.py run --config configs/demo.yaml     train, evaluate and gate a model on the embedded default
    python run.py models                             registered versions, aliases, decisions
    python run.py serve                              the champion over HTTP (OpenAI-compatible for text models)
"""

from cli import main

if __name__ == "__main__":
    main()
