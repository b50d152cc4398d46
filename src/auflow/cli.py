"""The ``auflow`` command line."""

from __future__ import annotations

import argparse
import sys


def _demo_data(args: argparse.Namespace) -> int:
    from auflow.demo import generate_demo_dataset

    if args.config:
        _fill_from_config(args)
    for option, default in DEMO_DEFAULTS.items():
        if getattr(args, option) is None:
            setattr(args, option, default)
    if args.out is None:
        raise ValueError("say where to write the dataset: OUT or --config")
    subjects = generate_demo_dataset(
        args.out, n_subjects=args.subjects, n_frames=args.frames, size=args.size, seed=args.seed
    )
    print(f"wrote {len(subjects)} subjects x {args.frames} frames of {args.size} px to {args.out}")
    return 0


def _fill_from_config(args: argparse.Namespace) -> None:
    """Take OUT and the sizes that were not given from a config file's dataset/demo sections."""
    import yaml

    with open(args.config) as handle:
        config = yaml.safe_load(handle) or {}
    demo = config.get("demo", {})
    if args.out is None:
        args.out = config.get("dataset", {}).get("root")
    for option in DEMO_DEFAULTS:
        if getattr(args, option) is None:
            setattr(args, option, demo.get(option))


DEMO_DEFAULTS = {"subjects": 6, "frames": 120, "size": 96, "seed": 0}


def _demo_video(args: argparse.Namespace) -> int:
    from auflow.demo import write_demo_video

    dx, dy = args.shift
    size = args.face_px
    centre = ((640 - size) // 2 + size / 2 + dx, (480 - size) // 3 + size / 2 + dy)
    count = write_demo_video(
        args.subject_dir, args.out, face_px=size, angle=args.angle, centre=centre, noise=args.noise
    )
    print(f"wrote {count} frames to {args.out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from auflow.predict import predict_inputs, to_openface, write_predictions

    table = predict_inputs(
        args.model,
        args.input,
        args.detect,
        progress=not args.quiet,
        min_face=args.min_face,
        model_kind=args.model_kind,
        static_model=args.static_model,
        min_dynamic_frames=args.min_dynamic_frames,
        align=args.align,
    )
    rate = table.attrs["frames_per_second"]
    faces = int(table["face_detected"].sum())
    frames = table[["input", "frame"]].drop_duplicates().shape[0]
    with_face = table.loc[table["face_detected"] == 1, ["input", "frame"]].drop_duplicates()
    if args.format == "openface":
        table = to_openface(table)
    write_predictions(table, args.out)
    print(
        f"wrote {frames} frames ({len(with_face)} with a face; {faces} faces) to {args.out} at "
        f"{rate:.0f} frames/s",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo-data",
        help="write a generated, DISFA-shaped demo dataset (croppedImg/ and json/)",
    )
    demo.add_argument("out", nargs="?", help="folder to write (created if missing)")
    demo.add_argument("--subjects", type=int, help="number of subjects (default 6)")
    demo.add_argument("--frames", type=int, help="frames per subject (default 120)")
    demo.add_argument("--size", type=int, help="face size in pixels (default 96)")
    demo.add_argument("--seed", type=int, help="random seed (default 0)")
    demo.add_argument(
        "--config",
        help="take OUT (dataset.root) and the sizes not given from this config file's demo section",
    )
    demo.set_defaults(run=_demo_data)
    video = commands.add_parser(
        "demo-video",
        help="write a video of a demo subject's faces inside larger frames (to try predict)",
    )
    video.add_argument("subject_dir", help="a subject's image folder, e.g. .../croppedImg/SN001")
    video.add_argument("out", help="the video to write (.avi)")
    video.add_argument(
        "--face-px", type=int, default=200, help="side of the filmed face (default 200)"
    )
    video.add_argument(
        "--angle", type=float, default=0.0, help="rotate the face by this many degrees"
    )
    video.add_argument(
        "--shift",
        type=int,
        nargs=2,
        default=(0, 0),
        metavar=("DX", "DY"),
        help="move the face this many pixels right and down from its place",
    )
    video.add_argument(
        "--noise",
        type=float,
        default=12.0,
        help="sd of the frame's background noise, in grey levels (default 12)",
    )
    video.set_defaults(run=_demo_video)
    predict = commands.add_parser(
        "predict",
        help="apply a saved model to image folders, images or videos (OpenFace-style CSV)",
    )
    predict.add_argument(
        "--model", required=True, help="a saved model folder: results/models/<extractor>/<model>"
    )
    predict.add_argument(
        "--input", required=True, nargs="+", help="image folders, image files or video files"
    )
    predict.add_argument("--out", required=True, help="output .csv, or .parquet")
    predict.add_argument(
        "--detect",
        choices=["auto", "always", "never"],
        default="auto",
        help="find and crop the face: auto (square frames are taken as crops, others detected), "
        "always, or never (the whole frame is the face)",
    )
    predict.add_argument(
        "--min-face",
        type=int,
        default=48,
        help="smallest face to find, in frame pixels (default 48; at least 24)",
    )
    predict.add_argument(
        "--model-kind",
        choices=["auto", "static", "dynamic"],
        default="auto",
        help="auto (default): face tracks shorter than --min-dynamic-frames (photographs, short "
        "clips) get the static model (<model>_static, no person normalisation), longer ones the "
        "dynamic model; static or dynamic force one",
    )
    predict.add_argument(
        "--static-model", help="the static model's folder, if not <model>_static beside --model"
    )
    predict.add_argument(
        "--min-dynamic-frames",
        type=int,
        default=None,
        help="frames a face track needs for the dynamic model under --model-kind auto",
    )
    predict.add_argument(
        "--align",
        choices=["box", "landmarks", "eyes", "none"],
        default=None,
        help="how a detected face is cropped; default: the model's (landmarks for a model "
        "trained with features.align: landmarks, which aligns crops too; else box). box: the "
        "detector's box, held still while the face stays put; landmarks: rotated, scaled and "
        "moved so dlib's five landmarks fall on the canonical frame's, held still likewise "
        "(needs pip install -e '.[align]'); eyes: likewise by OpenCV's eye cascade; none: each "
        "frame's own box",
    )
    predict.add_argument(
        "--format",
        choices=["auflow", "openface"],
        default="auflow",
        help="auflow (default) columns, or OpenFace's: frame, face_id, timestamp, confidence, "
        "success, AUxx_r, AUxx_c",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(run=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as error:
        from auflow.features.align import LandmarksUnavailable

        if not isinstance(error, ValueError | FileNotFoundError | LandmarksUnavailable):
            raise
        print(f"auflow: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
