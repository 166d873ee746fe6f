<?php
/*
 * A legacy ERP connector, the way many were written against ShipStream's Merchant API: plain
 * PHP with the curl extension, no library. It logs in, creates an order, reads it back and ends
 * the session. Point it at rpc-fulfillment and it works unchanged.
 *
 *   RPCF_URL=http://127.0.0.1:8080/api/jsonrpc RPCF_USER=demo RPCF_KEY=YOUR_API_KEY \
 *       php examples/legacy_connector.php [SKU]
 *
 * Needs php-cli and php-curl (Debian: apt-get install -y php-cli php-curl). The SKU (default
 * EXAMPLE-MUG, which examples/curl.sh and examples/python_client.py create) must exist.
 */

$url = getenv('RPCF_URL') ?: 'http://127.0.0.1:8080/api/jsonrpc';
$user = getenv('RPCF_USER') ?: 'demo';
$key = getenv('RPCF_KEY');
$sku = $argc > 1 ? $argv[1] : 'EXAMPLE-MUG';
if (!$key) {
    fwrite(STDERR, "set RPCF_KEY (and RPCF_URL, RPCF_USER) first\n");
    exit(2);
}

class MerchantApiFault extends Exception {}

/** One JSON-RPC request; returns its result or throws with ShipStream's fault number. */
function rpc($url, $method, $params)
{
    static $id = 0;
    // "2.0" as a string, as the JSON-RPC 2.0 specification has it. The float 2.0 works too:
    // json_encode writes it as 2 (unless given JSON_PRESERVE_ZERO_FRACTION), which the
    // server accepts as ShipStream does.
    $body = json_encode(array('jsonrpc' => '2.0', 'id' => ++$id, 'method' => $method, 'params' => $params));
    $curl = curl_init($url);
    curl_setopt_array($curl, array(
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => $body,
        CURLOPT_HTTPHEADER => array('Content-Type: application/json'),
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_TIMEOUT => 30,
    ));
    $raw = curl_exec($curl);
    if ($raw === false) {
        throw new Exception('curl: ' . curl_error($curl));
    }
    $status = curl_getinfo($curl, CURLINFO_HTTP_CODE);
    curl_close($curl);
    $answer = json_decode($raw, true);
    if ($status != 200 || !is_array($answer)) {
        throw new Exception("HTTP $status: $raw");
    }
    if (isset($answer['error'])) {
        // ShipStream fault N arrives as code -(32000 + N).
        $fault = -$answer['error']['code'] - 32000;
        throw new MerchantApiFault($answer['error']['message'], $fault);
    }
    return $answer['result'];
}

try {
    $session = rpc($url, 'login', array($user, $key));
    echo "logged in\n";

    $uniqueId = 'ERP-' . date('YmdHis') . '-' . getmypid();
    $order = rpc($url, 'call', array($session, 'order.create', array(
        '',  // storeCode: "" is the default store, as PHP connectors send it
        array(array('sku' => $sku, 'qty' => 1)),
        array(
            'firstname' => 'Ada', 'lastname' => 'Lovelace', 'street1' => '1 Main St',
            'city' => 'Boston', 'region' => 'MA', 'postcode' => '02134', 'country' => 'US',
        ),
        array('unique_id' => $uniqueId, 'order_ref' => $uniqueId, 'shipping_method' => 'ups_03'),
    )));
    echo "created order {$order['unique_id']} (status {$order['status']})\n";

    $info = rpc($url, 'call', array($session, 'order.info', array($uniqueId, array('status', 'order_ref'))));
    echo "order.info: {$info['unique_id']} {$info['order_ref']} {$info['status']}\n";

    try {
        rpc($url, 'call', array($session, 'order.info', array('NO-SUCH-ORDER')));
    } catch (MerchantApiFault $fault) {
        echo "expected fault {$fault->getCode()}: {$fault->getMessage()}\n";
    }

    rpc($url, 'endSession', array($session));
    echo "done\n";
} catch (MerchantApiFault $fault) {
    fwrite(STDERR, "fault {$fault->getCode()}: {$fault->getMessage()}\n");
    exit(1);
} catch (Exception $error) {
    fwrite(STDERR, $error->getMessage() . "\n");
    exit(1);
}
