"""``python -m ingestion.demo_world [--seed N] [--people N] [--days N]``: write the demo world's source systems."""

import argparse
import json

from ..config import source_systems_dir
from .generator import add_world_arguments, generate
from .writers import write_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_world_arguments(parser)
    args = parser.parse_args()
    world = generate(args.seed, args.people, args.days)
    print(json.dumps(write_world(world, source_systems_dir()), indent=2))


if __name__ == "__main__":
    main()
