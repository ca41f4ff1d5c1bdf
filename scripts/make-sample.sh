#!/usr/bin/env bash
# Makes the built-in `sample` source's clips: assets/sample-640x360.h264 (the
# stream profile: 640x360, 30 fps, ~1 Mbps, Baseline) and
# assets/sample-1280x720.h264 (the recording profile: the same scene at
# 1280x720, High), camera-like (SPS/PPS before every IDR, one IDR per second,
# no B-frames), each periodic over its 10 s, so the endless loop has no
# visible jump where it wraps. Needs ffmpeg with libx264.
#   scripts/make-sample.sh          both clips
#   scripts/make-sample.sh 360p     only the 640x360 clip (likewise 720p)
# The scene is synthetic (lavfi nullsrc + geq + drawbox): nothing is derived
# from third-party footage.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"

# scene S: the scene at 640S x 360S pixels (coordinates below are for S=1).
# (geq sees chroma planes at half size, hence Y<75S there.) A sky/road gradient with drifting bands
# (period 5 s) and a "vehicle" box that approaches and recedes (period 10 s).
scene() {
  local s=$1
  echo "nullsrc=s=$((640 * s))x$((360 * s)):r=30:d=10,format=yuv420p,\
geq=lum='if(lt(Y,$((150 * s))),150+50*sin(2*PI*(X/$((160 * s))+T/5)),60+40*sin(2*PI*(Y/$((24 * s))-T*2/5))+20*sin(2*PI*X/$((320 * s))))':\
cb='if(lt(Y,$((75 * s))),160,126)':cr='if(lt(Y,$((75 * s))),110,128)',\
drawbox=x='$((250 * s))+$((150 * s))*sin(2*PI*t/10)':y='$((200 * s))-$((40 * s))*sin(2*PI*t/10)':w='$((90 * s))+$((60 * s))*sin(2*PI*t/10)':h='$((70 * s))+$((45 * s))*sin(2*PI*t/10)':color=0xC03020@1:t=fill,\
drawbox=x='$((600 * s))-mod(t*$((128 * s)),$((640 * s)))':y=$((280 * s)):w=$((40 * s)):h=$((12 * s)):color=white@1:t=fill"
}

if [ "$which" = all ] || [ "$which" = 360p ]; then
  out=assets/sample-640x360.h264
  ffmpeg -v error -y -f lavfi -i "$(scene 1)" \
    -c:v libx264 -profile:v baseline -level 3.0 -preset medium -tune zerolatency \
    -b:v 1M -maxrate 1M -bufsize 1M -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 \
    -x264-params repeat-headers=1 -bsf:v h264_mp4toannexb -f h264 "$out"
  ls -l "$out"
fi

if [ "$which" = all ] || [ "$which" = 720p ]; then
  # Constant quality capped at the recording profile's 8 Mbit/s: the synthetic scene needs far
  # less than that, so the clip stays small in the package (~1 MB for 10 s).
  out=assets/sample-1280x720.h264
  ffmpeg -v error -y -f lavfi -i "$(scene 2)" \
    -c:v libx264 -profile:v high -level 3.1 -preset medium -tune zerolatency \
    -crf 18 -maxrate 8M -bufsize 8M -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 \
    -x264-params repeat-headers=1 -bsf:v h264_mp4toannexb -f h264 "$out"
  ls -l "$out"
fi
