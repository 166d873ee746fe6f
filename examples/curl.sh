#!/usr/bin/env bash
# A session with curl alone: log in, make sure a product has stock, create an order, search for
# it, hold it, cancel it, end the session.
#
#   URL=http://127.0.0.1:8080/api/jsonrpc USER=demo KEY=YOUR_API_KEY bash examples/curl.sh
#
# (RPCF_URL, RPCF_USER and RPCF_KEY work too, and win.) The user needs the admin role (the demo
# user of `rpc-fulfillment serve` has it): product.create is the merchant's, inventory.adjust the
# warehouse's. Every answer is printed; the script stops at the first unexpected error.
set -euo pipefail

URL=${RPCF_URL:-${URL:-http://127.0.0.1:8080/api/jsonrpc}}
API_USER=${RPCF_USER:-${USER:?set USER (or RPCF_USER) to an API username}}
API_KEY=${RPCF_KEY:-${KEY:?set KEY (or RPCF_KEY) to its API key}}
SKU=EXAMPLE-MUG
ORDER=CURL-$(date +%s)-$$   # our own unique_id: running the script again makes a new order
ID=0

# rpc METHOD PARAMS [ALLOWED_FAULT_CODE]: POST one JSON-RPC request, print the answer, stop on an
# error unless it is the allowed one. The answer is left in $ANSWER.
rpc() {
    ID=$((ID + 1))
    ANSWER=$(curl -sS --fail-with-body --max-time 30 -H 'Content-Type: application/json' "$URL" \
        -d "{\"jsonrpc\":2.0,\"id\":$ID,\"method\":\"$1\",\"params\":$2}")
    echo "$1 ${2:0:60}... -> $ANSWER"
    if [[ $ANSWER == *'"error":'* && ( -z ${3:-} || $ANSWER != *"\"code\":$3,"* ) ]]; then
        echo "unexpected error from $1" >&2
        exit 1
    fi
}

# 1. log in: the result is the session id
rpc login "[\"$API_USER\",\"$API_KEY\"]"
SESSION=$(sed -n 's/.*"result":"\([0-9a-f]\{32\}\)".*/\1/p' <<<"$ANSWER")
[[ -n $SESSION ]] || { echo "no session in the answer" >&2; exit 1; }

# 2. a product with stock (fault 107, -32107: the SKU exists already, from an earlier run)
rpc call "[\"$SESSION\",\"product.create\",[\"$SKU\",{\"name\":\"Example mug\",\"weight\":0.8,\"weight_unit\":\"lb\"}]]" -32107
rpc call "[\"$SESSION\",\"inventory.adjust\",[\"$SKU\",1,5,\"examples/curl.sh\"]]"

# 3. an order for 2 of them
ADDRESS='{"firstname":"Ada","lastname":"Lovelace","street1":"1 Main St","city":"Boston","region":"MA","postcode":"02134","country":"US"}'
rpc call "[\"$SESSION\",\"order.create\",[null,{\"$SKU\":2},$ADDRESS,{\"unique_id\":\"$ORDER\",\"order_ref\":\"$ORDER\",\"shipping_method\":\"ups_03\"}]]"

# 4. find it: order.search by order_ref, only a few fields
rpc call "[\"$SESSION\",\"order.search\",[{\"order_ref\":\"$ORDER\"},{\"limit\":10},[\"status\",\"order_ref\"]]]"
[[ $ANSWER == *'"totalCount":1'* ]] || { echo "the order was not found" >&2; exit 1; }

# 5. hold it, then cancel every item
rpc call "[\"$SESSION\",\"order.hold\",[\"$ORDER\"]]"
rpc call "[\"$SESSION\",\"order.cancel\",[\"$ORDER\",{\"all_items\":true},[\"status\"]]]"
[[ $ANSWER == *'"status":"canceled"'* ]] || { echo "the order was not canceled" >&2; exit 1; }

# 6. an error, on purpose: ShipStream fault 100 on the wire as -32100
rpc call "[\"$SESSION\",\"order.info\",[\"NO-SUCH-ORDER\"]]" -32100

# 7. end the session
rpc endSession "[\"$SESSION\"]"
echo "done: order $ORDER created, held and canceled"
