#!/usr/bin/env python3
"""Build MANIFEST.tsv and GROUND_TRUTH.json for the external H.264 corpus.

Inputs : the bitstreams in CORPUS_DIR (default: this script's folder),
         optional --docs DIR holding *_readme.txt conformance descriptions
         (ChromiumOS tast-tests test_vectors/h264/{baseline,main,extended}).
Tools  : ffprobe / ffmpeg (Debian 12 package, FFmpeg 5.1) and nal_tally.py.
Nothing here decodes video itself; every number comes from ffprobe/ffmpeg,
from the independent start-code scanner in nal_tally.py, or from the
conformance descriptions.
"""
import argparse, glob, hashlib, json, os, re, subprocess, sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nal_tally  # noqa: E402

# ---------------------------------------------------------------- provenance
OPENH264 = ("cisco/openh264", "cf568c83f71a18778f9a16e344effaf40c11b752",
            "BSD-2-Clause (repo LICENSE)")
FUZZ = ("strongcourage/fuzzing-corpus", "d5aaf2c8654592f65e8792d12800317200446e7c",
        "no repo license; file is an ITU-T H.264.1 (JVT) conformance bitstream, "
        "byte-identical (sha256) to the FFmpeg FATE copy")
FATE = ("lu-zero/fate-samples", "37997c4f6c0bccad77f56b4fe14cc19cc17b6ded",
        "no repo license; FFmpeg/libav FATE sample mirror; file is an ITU-T "
        "H.264.1 FRExt conformance bitstream")
H264BSD = ("oneam/h264bsd", "42bcb5d753ad86d84903354bf3c68423c28adb7b",
           "Apache-2.0 (repo LICENSE.md); picture content Big Buck Bunny "
           "(c) Blender Foundation, CC-BY-3.0")
RASPI = ("thinkier/raspivid-stream", "b3bcf06db84e8c0f20d3cf8c4ce53229824080b4",
         "MIT (repo LICENSE)")
MP4FF = ("Eyevinn/mp4ff", "c0bd02b1a8ed5758660f1ea328d492e74eb18686",
         "MIT (repo LICENSE)")
MEMBRANE = ("membraneframework/membrane_h26x_plugin",
            "c9cd5decef94b96da12127fe37c50677e6e42af6", "Apache-2.0 (repo LICENSE)")

FATE_VERIFIED = "sha256 equals FFmpeg FATE git-lfs pointer (lu-zero/fate-samples)"
FATE_MD5 = "md5 equals FATE h264-conformance/FRext/md5sum"

# filename -> (source tuple, source path, kind, verification, features)
ENTRIES = OrderedDict([
    # ---- cisco/openh264 res/ -----------------------------------------
    ("BA1_Sony_D.jsv", (OPENH264, "res/BA1_Sony_D.jsv", "ITU-T conformance", FATE_VERIFIED,
        "Baseline CAVLC QCIF; PPS repeated before every picture")),
    ("BA1_FT_C.264", (OPENH264, "res/BA1_FT_C.264", "ITU-T conformance", FATE_VERIFIED,
        "Baseline CIF; multiple slices per picture; several SPS/PPS re-sends")),
    ("BASQP1_Sony_C.jsv", (OPENH264, "res/BASQP1_Sony_C.jsv", "ITU-T conformance", FATE_VERIFIED,
        "Baseline; many slices per picture (first_mb_in_slice != 0), slice QP changes")),
    ("CVFC1_Sony_C.jsv", (OPENH264, "res/CVFC1_Sony_C.jsv", "ITU-T conformance", FATE_VERIFIED,
        "frame cropping on all four sides (coded 352x288 -> 300x168, crop units L/R/T/B 13/13/30/30); 4 slices per picture; PPS before every picture")),
    ("MIDR_MW_D.264", (OPENH264, "res/MIDR_MW_D.264", "ITU-T conformance", FATE_VERIFIED,
        "Baseline; multiple IDR pictures")),
    ("MPS_MW_A.264", (OPENH264, "res/MPS_MW_A.264", "ITU-T conformance", FATE_VERIFIED,
        "Baseline; multiple parameter sets (2 PPS ids)")),
    ("LS_SVA_D.264", (OPENH264, "res/LS_SVA_D.264", "ITU-T conformance", FATE_VERIFIED,
        "Baseline; long sequence, 1700 frames (frame_num wrap)")),
    ("SarVui.264", (OPENH264, "res/SarVui.264", "decoder test vector (openh264)", "",
        "VUI present with aspect_ratio_info (SAR)")),
    ("Static.264", (OPENH264, "res/Static.264", "decoder test vector (openh264)", "",
        "odd size 152x100 via cropping of 160x112; gaps_in_frame_num_allowed")),
    ("jm_1080p_allslice.264", (OPENH264, "res/jm_1080p_allslice.264", "decoder test vector (openh264, JM-encoded)", "",
        "1920x1080 coded as 1088 (bottom crop); 1 IDR picture made of 8160 slices (one per MB); almost all 3-byte start codes")),
    ("sps_subsetsps_bothVUI.264", (OPENH264, "res/sps_subsetsps_bothVUI.264", "decoder test vector (openh264 SVC)", "",
        "SPS + subset SPS (type 15), both with VUI; type 20 slice, no base-layer slice -> ffprobe cannot open it")),
    ("test_scalinglist_jm.264", (OPENH264, "res/test_scalinglist_jm.264", "decoder test vector (openh264, JM-encoded)", "",
        "High profile with SPS and PPS scaling matrices")),
    ("test_cif_P_CABAC_slice.264", (OPENH264, "res/test_cif_P_CABAC_slice.264", "decoder test vector (openh264)", "",
        "Main CABAC; many slices per picture; mostly 3-byte start codes")),
    ("Cisco_Men_whisper_640x320_CABAC_Bframe_9.264", (OPENH264, "res/Cisco_Men_whisper_640x320_CABAC_Bframe_9.264",
        "decoder test vector (Cisco encoder)", "", "Main CABAC with B frames (reordering), 640x320")),
    # ---- conformance streams from strongcourage/fuzzing-corpus h264/ ---------
    ("AUD_MW_E.264", (FUZZ, "h264/AUD_MW_E.264", "ITU-T conformance", FATE_VERIFIED,
        "access unit delimiter (type 9) before every picture")),
    ("BA3_SVA_C.264", (FUZZ, "h264/BA3_SVA_C.264", "ITU-T conformance", FATE_VERIFIED,
        "Extended profile (profile_idc 88)")),
    ("CABA1_SVA_B.264", (FUZZ, "h264/CABA1_SVA_B.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CABAC, basic")),
    ("CABA3_TOSHIBA_E.264", (FUZZ, "h264/CABA3_TOSHIBA_E.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CABAC; SPS repeated 20x and PPS before every picture")),
    ("SL1_SVA_B.264", (FUZZ, "h264/SL1_SVA_B.264", "ITU-T conformance", FATE_VERIFIED,
        "Main; multiple slices per picture")),
    ("CABREF3_Sand_D.264", (FUZZ, "h264/CABREF3_Sand_D.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CABAC interlaced field pictures, ref list reordering/MMCO; end-of-sequence NAL (10)")),
    ("CAFI1_SVA_C.264", (FUZZ, "h264/CAFI1_SVA_C.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CABAC field pictures, 720x480")),
    ("CVFI1_SVA_C.264", (FUZZ, "h264/CVFI1_SVA_C.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CAVLC field pictures, 720x480")),
    ("CAMA3_Sand_E.264", (FUZZ, "h264/CAMA3_Sand_E.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CABAC MBAFF (mb_adaptive_frame_field_flag=1)")),
    ("CAPAMA3_Sand_F.264", (FUZZ, "h264/CAPAMA3_Sand_F.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CABAC PAFF + MBAFF mixed")),
    ("CAPA1_TOSHIBA_B.264", (FUZZ, "h264/CAPA1_TOSHIBA_B.264", "ITU-T conformance", FATE_VERIFIED,
        "Main CABAC PAFF (frame/field per picture); AUD + PPS every AU, SPS repeated; end-of-stream NAL (11)")),
    ("FM1_FT_E.264", (FUZZ, "h264/FM1_FT_E.264", "ITU-T conformance", FATE_VERIFIED,
        "Baseline FMO (slice groups) + ASO; 22 SPS/11 PPS; recovery-point SEI; ffmpeg decodes it with errors")),
    # ---- FRExt conformance from the FATE mirror ----------------------------
    ("FRExt1_Panasonic.avc", (FATE, "h264-conformance/FRext/FRExt1_Panasonic.avc", "ITU-T conformance (FRExt)", FATE_MD5,
        "High profile, 8x8 transform, SPS/PPS scaling matrices; SPS id 0 re-sent with DIFFERENT scaling lists; end-of-seq (10) and end-of-stream (11) NALs")),
    ("HCAFF1_HHI.264", (FATE, "h264-conformance/FRext/HCAFF1_HHI.264", "ITU-T conformance (FRExt)", FATE_MD5,
        "High CABAC field pictures (PAFF)")),
    ("HCAMFF1_HHI.264", (FATE, "h264-conformance/FRext/HCAMFF1_HHI.264", "ITU-T conformance (FRExt)", FATE_MD5,
        "High CABAC MBAFF")),
    ("FRExt_MMCO4_Sony_B.264", (FATE, "h264-conformance/FRext/FRExt_MMCO4_Sony_B.264", "ITU-T conformance (FRExt)", FATE_MD5,
        "High; AUD + PPS before every picture; MMCO")),
    ("PPH10I2_Panasonic_A.264", (FATE, "h264-conformance/FRext/PPH10I2_Panasonic_A.264", "ITU-T conformance (FRExt)",
        "from the FATE mirror (not listed in its md5sum file)",
        "High 10 Intra, 1280x720, 10-bit; 4 slices per picture; mixed 3/4-byte start codes")),
    # ---- real encoders -------------------------------------------------------
    ("test_1920x1080.h264", (H264BSD, "test/test_1920x1080.h264", "x264 encode (libx264 via ffmpeg, per repo Rakefile)", "",
        "1920x1080 coded as 1088; x264 user-data SEI; 2 IDRs with SPS/PPS re-sent")),
    ("test_640x360.h264", (H264BSD, "test/test_640x360.h264", "x264 encode (libx264 via ffmpeg, per repo Rakefile)", "",
        "640x360 coded as 368; x264 user-data SEI")),
    ("test.h264", (RASPI, "test.h264 (removed after this commit)", "hardware encoder: Raspberry Pi raspivid (Broadcom VideoCore)", "",
        "RPi HW encoder: High L4.0 1920x1080 (1088 coded), nal_ref_idc=1 SPS/PPS, VUI without timing info")),
    ("4pics.264", (MP4FF, "cmd/mp4ff-nallister/testdata/4pics.264", "encoder output (unknown encoder)", "",
        "High L4.2 1920x1080; AUD, NAL HRD, buffering-period + pic-timing SEI, PPS every picture; VUI timing 1000/100000")),
    ("blackframe.264", (MP4FF, "avc/testdata/blackframe.264", "encoder output (unknown encoder)", "",
        "minimal 184-byte stream: SPS, PPS, one IDR; 640x360 coded as 368")),
    ("input-20-360p-I422.h264", (MEMBRANE, "test/fixtures/h264/input-20-360p-I422.h264", "x264 encode", "",
        "High 4:2:2 (chroma_format_idc=2), 480x360 coded 368; AUD every AU")),
    ("input-10-720a.h264", (MEMBRANE, "test/fixtures/h264/input-10-720a.h264", "x264 encode", "",
        "High 4:4:4 Predictive, tiny 4x4 picture cropped from 16x16; SPS/PPS re-sent")),
    ("input-sps-pps-non-idr-sps-pps-idr.h264", (MEMBRANE, "test/fixtures/h264/input-sps-pps-non-idr-sps-pps-idr.h264", "x264 encode (spliced test fixture)", "",
        "starts with SPS(400x400)+PPS+non-IDR slice, then SPS id 0 re-sent as 32x32 coded (20x20 cropped)+PPS+IDR: mid-stream resolution change; ffprobe mixes the two")),
])

FFPROBE_FIELDS = ("codec_name,profile,level,width,height,coded_width,coded_height,pix_fmt,"
                  "field_order,has_b_frames,refs,sample_aspect_ratio,color_range,color_space,"
                  "chroma_location,r_frame_rate,avg_frame_rate,nb_read_frames,nb_read_packets")


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def ffprobe(path):
    rc, out, err = run(["ffprobe", "-v", "error", "-f", "h264", "-count_frames", "-count_packets",
                        "-select_streams", "v:0", "-show_entries", "stream=" + FFPROBE_FIELDS,
                        "-of", "json", path])
    streams = []
    try:
        streams = json.loads(out).get("streams", [])
    except ValueError:
        pass
    s = streams[0] if streams else {}
    for k in ("nb_read_frames", "nb_read_packets", "level", "width", "height",
              "coded_width", "coded_height", "has_b_frames", "refs"):
        if k in s:
            try:
                s[k] = int(s[k])
            except (TypeError, ValueError):
                pass
    errs = [l for l in err.splitlines() if l.strip()]
    return s, rc, errs


LINE = re.compile(r"^\[trace_headers @ [^\]]*\] (.*)$")
FIELD = re.compile(r"^\d+\s+(\S+)\s+[01]+\s+=\s+(-?\d+)$")
SCALING_FLAG = re.compile(r"^(seq|pic)_scaling_list_present_flag\[(\d+)\]$")


def trace_param_sets(path):
    base = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "info", "-f", "h264", "-i", path,
            "-map", "0:v:0", "-c:v", "copy", "-bsf:v", "filter_units=pass_types=7-8,trace_headers"]
    rc, _, err = run(base + ["-f", "null", "-"])
    if "Sequence Parameter Set" not in err:
        rc, _, err = run(base + ["-f", "h264", "-y", "/dev/null"])
    sets, cur, kind, ctx = [], None, None, None
    for raw in err.splitlines():
        m = LINE.match(raw)
        if not m:
            continue
        body = m.group(1).strip()
        if body in ("Sequence Parameter Set", "Picture Parameter Set"):
            if cur is not None:
                sets.append((kind, cur))
            kind, cur = ("sps" if body.startswith("Seq") else "pps"), OrderedDict()
            ctx = None
            continue
        if body.startswith("Packet:") or body == "Extradata":
            if cur is not None:
                sets.append((kind, cur)); cur = None
            continue
        f = FIELD.match(body)
        if f and cur is not None:
            name, val = f.group(1), int(f.group(2))
            if name.startswith("rbsp_") or name == "forbidden_zero_bit":
                continue
            sl = SCALING_FLAG.match(name)
            if sl:
                ctx = "%s_scaling_list[%s]" % (sl.group(1), sl.group(2))
            elif name.startswith("delta_scale") and ctx:
                name = ctx + "." + name
            key, i = name, 2
            while key in cur:
                key = "%s#%d" % (name, i); i += 1
            cur[key] = val
    if cur is not None:
        sets.append((kind, cur))
    uniq = {"sps": [], "pps": []}
    seen = set()
    for kind, d in sets:
        sig = (kind, tuple(d.items()))
        if sig in seen:
            continue
        seen.add(sig)
        uniq[kind].append(d)
    return uniq, rc


def derive_sps(s):
    """Width/height/fps from SPS syntax elements (H.264 7.4.2.1.1, E.2.1)."""
    cfi = s.get("chroma_format_idc", 1)
    sep = s.get("separate_colour_plane_flag", 0)
    cat = 0 if sep else cfi
    sub_w = {1: 2, 2: 2, 3: 1}.get(cat, 1)
    sub_h = {1: 2, 2: 1, 3: 1}.get(cat, 1)
    fmo = s.get("frame_mbs_only_flag", 1)
    cux = 1 if cat == 0 else sub_w
    cuy = (1 if cat == 0 else sub_h) * (2 - fmo)
    cw = (s["pic_width_in_mbs_minus1"] + 1) * 16
    ch = (2 - fmo) * (s["pic_height_in_map_units_minus1"] + 1) * 16
    l, r, t, b = (s.get("frame_crop_%s_offset" % k, 0) if s.get("frame_cropping_flag") else 0
                  for k in ("left", "right", "top", "bottom"))
    d = OrderedDict([
        ("seq_parameter_set_id", s.get("seq_parameter_set_id")),
        ("profile_idc", s.get("profile_idc")),
        ("constraint_set_flags", "".join(str(s.get("constraint_set%d_flag" % i, 0)) for i in range(6))),
        ("level_idc", s.get("level_idc")),
        ("chroma_format_idc", cfi),
        ("bit_depth_luma", 8 + s.get("bit_depth_luma_minus8", 0)),
        ("frame_mbs_only_flag", fmo),
        ("mb_adaptive_frame_field_flag", s.get("mb_adaptive_frame_field_flag", 0)),
        ("pic_order_cnt_type", s.get("pic_order_cnt_type")),
        ("max_num_ref_frames", s.get("max_num_ref_frames")),
        ("coded_width", cw), ("coded_height", ch),
        ("crop_left_right_top_bottom", [l, r, t, b]),
        ("width", cw - cux * (l + r)), ("height", ch - cuy * (t + b)),
        ("vui_parameters_present_flag", s.get("vui_parameters_present_flag", 0)),
    ])
    if s.get("aspect_ratio_info_present_flag"):
        d["aspect_ratio_idc"] = s.get("aspect_ratio_idc")
        if s.get("aspect_ratio_idc") == 255:
            d["sar"] = [s.get("sar_width"), s.get("sar_height")]
    if s.get("timing_info_present_flag"):
        nu, ts = s.get("num_units_in_tick"), s.get("time_scale")
        d["num_units_in_tick"], d["time_scale"] = nu, ts
        d["fixed_frame_rate_flag"] = s.get("fixed_frame_rate_flag")
        d["fps_time_scale_over_2_num_units_in_tick"] = round(ts / (2.0 * nu), 4) if nu else None
    else:
        d["timing_info_present_flag"] = 0
    for k in ("nal_hrd_parameters_present_flag", "vcl_hrd_parameters_present_flag",
              "pic_struct_present_flag", "bitstream_restriction_flag",
              "max_num_reorder_frames", "max_dec_frame_buffering", "seq_scaling_matrix_present_flag"):
        if k in s:
            d[k] = s[k]
    return d


PPS_KEYS = ("pic_parameter_set_id", "seq_parameter_set_id", "entropy_coding_mode_flag",
            "bottom_field_pic_order_in_frame_present_flag", "num_slice_groups_minus1",
            "num_ref_idx_l0_default_active_minus1", "num_ref_idx_l1_default_active_minus1",
            "weighted_pred_flag", "weighted_bipred_idc", "constrained_intra_pred_flag",
            "redundant_pic_cnt_present_flag", "transform_8x8_mode_flag",
            "pic_scaling_matrix_present_flag")


def read_doc(docs, stem):
    if not docs:
        return None
    hits = glob.glob(os.path.join(docs, "*", stem + "_readme.txt"))
    if not hits:
        return None
    fields, notes = OrderedDict(), []
    with open(hits[0], encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip()
            if not line.strip():
                continue
            m = re.match(r"^([A-Za-z0-9 /()\-_.\t]+?)\s*:\s*(.*)$", line)
            if m:
                fields[m.group(1).strip()] = m.group(2).strip()
            else:
                notes.append(line.strip())
    if notes:
        fields["_notes"] = notes
    fields["_source"] = ("chromiumos tast-tests (nya3jp/tast-tests@6df7195ab510129348eca3f2b2cd2be1879c3352) "
                         "src/chromiumos/tast/local/bundles/cros/video/data/test_vectors/h264/"
                         + os.path.relpath(hits[0], docs))
    return fields


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# The folder also holds the ground truth, its tools and notices.
NOT_STREAMS = {"README.md", "NOTICE", "MANIFEST.tsv", "GROUND_TRUTH.json",
               "build_ground_truth.py", "nal_tally.py", "__pycache__"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=HERE)
    ap.add_argument("--docs", default=None)
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    present = sorted(os.listdir(a.corpus))
    missing = [f for f in ENTRIES if f not in present]
    extra = [f for f in present if f not in ENTRIES and f not in NOT_STREAMS]
    if missing or extra:
        sys.exit("corpus/ENTRIES mismatch: missing=%s extra=%s" % (missing, extra))
    _, ver, _ = run(["ffprobe", "-version"])
    gt = OrderedDict()
    gt["_about"] = OrderedDict([
        ("generated_by", "build_ground_truth.py"),
        ("ffprobe_version", ver.splitlines()[0] if ver else None),
        ("corpus_dir", "."),
        ("ffprobe_cmd", "ffprobe -v error -f h264 -count_frames -count_packets -select_streams v:0 "
                        "-show_entries stream=" + FFPROBE_FIELDS + " -of json FILE"),
        ("param_set_cmd", "ffmpeg -f h264 -i FILE -c:v copy -bsf:v "
                          "'filter_units=pass_types=7-8,trace_headers' -f null -  (unique SPS/PPS, in order)"),
        ("caveats", [
            "ffprobe r_frame_rate/avg_frame_rate on a raw .h264 file are NOT stream truth: the raw demuxer "
            "assumes 25 fps when the SPS has no VUI timing; use sps_derived.fps_time_scale_over_2_num_units_in_tick "
            "(time_scale / (2*num_units_in_tick)) where timing_info is present.",
            "nb_read_frames counts decoded frames (a field pair = 1 frame); nb_read_packets counts access units "
            "as split by FFmpeg's h264 parser (one per primary coded picture, so each field of a field pair is "
            "its own packet).",
            "nal_scan.first_mb_zero_slices counts type-1/5 slices with first_mb_in_slice == 0, i.e. coded "
            "pictures (fields separately) unless redundant pictures are present.",
            "ffmpeg does not support FMO/ASO (FM1_FT_E) or MVC/SVC decoding; for those, counts from ffprobe "
            "are best-effort and the nal_scan/conformance_doc values are more trustworthy.",
            "conformance_doc values are the JVT descriptions as transcribed by ChromiumOS; a few disagree with "
            "the bitstream (e.g. frame counts) - treat the bitstream-derived values as authoritative.",
        ]),
    ])
    rows = []
    for name, (src, spath, kind, verif, feats) in ENTRIES.items():
        p = os.path.join(a.corpus, name)
        size = os.path.getsize(p)
        with open(p, "rb") as f:
            scan = nal_tally.scan(f.read())
        probe, prc, perr = ffprobe(p)
        ps, _ = trace_param_sets(p)
        e = OrderedDict()
        e["bytes"] = size
        e["sha256"] = sha256(p)
        e["source"] = OrderedDict([("repo", src[0]), ("path", spath), ("commit", src[1]),
                                   ("license", src[2]), ("kind", kind), ("verification", verif)])
        e["features"] = feats
        e["ffprobe"] = probe
        if perr:
            e["ffprobe_stderr_first_lines"] = perr[:5]
            e["ffprobe_stderr_line_count"] = len(perr)
        e["nal_scan"] = scan
        e["sps_derived"] = [derive_sps(s) for s in ps["sps"]]
        e["pps_summary"] = [OrderedDict((k, d[k]) for k in PPS_KEYS if k in d) for d in ps["pps"]]
        e["sps_raw"] = ps["sps"]
        doc = read_doc(a.docs, os.path.splitext(name)[0])
        if doc:
            e["conformance_doc"] = doc
        gt[name] = e
        rows.append([name, src[0], spath, src[1], src[2], str(size), e["sha256"], kind, feats])
        print("%-48s %9d  %s" % (name, size, probe.get("profile", "?")), file=sys.stderr)
    with open(os.path.join(a.out, "GROUND_TRUTH.json"), "w") as f:
        json.dump(gt, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "MANIFEST.tsv"), "w") as f:
        f.write("\t".join(["filename", "source_repo", "source_path", "commit", "license", "bytes",
                           "sha256", "kind", "features"]) + "\n")
        for r in rows:
            f.write("\t".join(c.replace("\t", " ") for c in r) + "\n")


if __name__ == "__main__":
    main()
