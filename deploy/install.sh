#!/usr/bin/env bash
# Installs the Rearview camera daemon on Raspberry Pi OS (Bookworm or newer), as root:
#   sudo ./deploy/install.sh [--hostname velovision-rearview] [--no-start] [--no-token]
# Installs Node.js and the camera tools (rpicam-apps), copies this checkout to /opt/rearview and
# builds it, creates the service user and /opt/velovision/standalone_videos, generates the API
# token (/etc/rearview/api-token, 0600, shown once), writes the device config
# (/etc/rearview/config.json, 0600), enables I2C and lets the service power off (polkit),
# enables and starts the systemd service, then runs
# `rearview doctor`. --no-token skips the token (for the original app, which cannot send one).
# Safe to run again (an existing token and config are kept). See docs/deploy.md.
set -euo pipefail

APP_DIR=/opt/rearview
RECORDINGS_DIR=/opt/velovision/standalone_videos
CONFIG_DIR=/etc/rearview
CONFIG_FILE="$CONFIG_DIR/config.json"
TOKEN_FILE="$CONFIG_DIR/api-token"
SERVICE_USER=rearview
NEW_HOSTNAME=""
START=1
WITH_TOKEN=1

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --hostname) NEW_HOSTNAME="${2:?--hostname needs a name}"; shift 2 ;;
    --no-start) START=0; shift ;;
    --no-token) WITH_TOKEN=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo $0)" >&2
  exit 1
fi

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$SRC_DIR/package.json" ]; then
  echo "install.sh: $SRC_DIR is not a Rearview checkout (no package.json)" >&2
  exit 1
fi

step() { printf '\n==> %s\n' "$*"; }

step "Installing system packages (Node.js, npm, rpicam-apps, GStreamer, ffmpeg, rsync, i2c-tools)"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# i2c-tools: the daemon reads the battery fuel gauge with i2cget (no native module to build).
apt-get install -y nodejs npm ffmpeg rsync i2c-tools
# The camera tools: rpicam-apps on current Raspberry Pi OS, libcamera-apps on older releases.
apt-get install -y rpicam-apps || apt-get install -y libcamera-apps || echo "warning: no rpicam-apps package: the rpicam source will not work" >&2
# libgpiod's tools: the button, LED and charging lines through the GPIO character device (else sysfs).
apt-get install -y gpiod || echo "warning: no gpiod package: GPIO falls back to sysfs" >&2
# The default source: gst-launch with libcamerasrc, the V4L2 hardware encoder and h264parse (two profiles from one camera).
apt-get install -y gstreamer1.0-tools gstreamer1.0-libcamera gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ||
  echo "warning: the GStreamer camera packages did not install: the gstreamer source will not work (set \"source\": \"rpicam\")" >&2

NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$NODE_MAJOR" -lt 20 ]; then
  echo "install.sh: Node.js $(node --version 2>/dev/null || echo '(none)') is too old; Rearview needs 20 or newer." >&2
  echo "Install Node.js 20+ (for example the official Linux ARM binaries) so that /usr/bin/node is 20+, then run this again." >&2
  exit 1
fi

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

step "Copying the application to $APP_DIR and building it"
install -d "$APP_DIR"
rsync -a --delete --exclude node_modules --exclude dist --exclude .git "$SRC_DIR/" "$APP_DIR/"
cd "$APP_DIR"
npm ci --no-audit --no-fund
npm run build
npm prune --omit=dev --no-audit --no-fund
chown -R root:root "$APP_DIR"
ln -sf "$APP_DIR/dist/src/cli/main.js" /usr/local/bin/rearview
chmod 0755 "$APP_DIR/dist/src/cli/main.js"

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

step "Writing the device config $CONFIG_FILE"
if [ -f "$CONFIG_FILE" ]; then
  echo "keeping the existing $CONFIG_FILE"
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
fi
# Also tightens a config left 0644 by an earlier version of this script.
chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG_FILE"
chmod 0600 "$CONFIG_FILE"

if [ -n "$NEW_HOSTNAME" ]; then
  step "Setting the host name to $NEW_HOSTNAME ($NEW_HOSTNAME.local on the network)"
  hostnamectl set-hostname "$NEW_HOSTNAME"
fi

# The camera board: I2C for the fuel gauge, and the polkit rule that lets the service power off.
# shellcheck source=deploy/board-setup.sh
. "$SRC_DIR/deploy/board-setup.sh"
step "Enabling I2C (the battery fuel gauge)"
enable_i2c "" # the boot config found on this Pi
step "Allowing $SERVICE_USER to power off (low battery, power button)"
install_power_off_rule "$SERVICE_USER"

step "Installing and enabling the systemd service"
install -m 0644 "$APP_DIR/deploy/rearview.service" /etc/systemd/system/rearview.service
systemctl daemon-reload
systemctl enable rearview.service
if [ "$START" -eq 1 ]; then
  systemctl restart rearview.service
fi

step "Checking the installation (rearview doctor)"
# Runs as the service user so permission problems show up here, not at the first recording.
if ! runuser -u "$SERVICE_USER" -- node "$APP_DIR/dist/src/cli/main.js" doctor --config "$CONFIG_FILE"; then
  echo "rearview doctor found problems (above); fix them and run: sudo systemctl restart rearview" >&2
  exit 1
fi
echo
echo "Done. Stream: tcp://$(hostname).local:5000   Web page and API: http://$(hostname).local:8000/"
