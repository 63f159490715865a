export OXBOT_HOME=${OXBOT_HOME:-/tmp/advb/e2e}
export PYTHONPATH=/work/wt/adv/adv_bybit
export PYTHON_KEYRING_BACKEND=advkeyring.FileKeyring
export ADV_KEYRING_FILE=$OXBOT_HOME/keyring.json
export OXBOT_WEBSOCKETS=0
OX=/work/wt/adv/.venv/bin/oxbot
