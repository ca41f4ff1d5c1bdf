#!/usr/bin/env bash
# Makes assets/sample-640x360.h264, the built-in `sample` source: a camera-like
# clip (640x360, 30 fps, ~1 Mbps, Baseline, SPS/PPS before every IDR, one IDR
# per second, no B-frames) whose picture is periodic over its 10 s, so the
# endless loop has no visible jump where it wraps. Needs ffmpeg with libx264.
set -euo pipefail
cd "$(dirname "$0")/.."
out=assets/sample-640x360.h264
# (geq sees chroma planes at half size, hence Y<75 there.) A sky/road gradient with drifting bands (period 5 s) and a "vehicle" box
# that approaches and recedes (period 10 s).
ffmpeg -v error -y -f lavfi -i "nullsrc=s=640x360:r=30:d=10,format=yuv420p,\
geq=lum='if(lt(Y,150),150+50*sin(2*PI*(X/160+T/5)),60+40*sin(2*PI*(Y/24-T*2/5))+20*sin(2*PI*X/320))':\
cb='if(lt(Y,75),160,126)':cr='if(lt(Y,75),110,128)',\
drawbox=x='250+150*sin(2*PI*t/10)':y='200-40*sin(2*PI*t/10)':w='90+60*sin(2*PI*t/10)':h='70+45*sin(2*PI*t/10)':color=0xC03020@1:t=fill,\
drawbox=x='600-mod(t*128,640)':y=280:w=40:h=12:color=white@1:t=fill" \
  -c:v libx264 -profile:v baseline -level 3.0 -preset medium -tune zerolatency \
  -b:v 1M -maxrate 1M -bufsize 1M -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 \
  -x264-params repeat-headers=1 -bsf:v h264_mp4toannexb -f h264 "$out"
ls -l "$out"
