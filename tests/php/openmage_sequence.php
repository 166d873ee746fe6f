<?php
/**
 * One step of the official OpenMage plugin's traffic, sent through ShipStream's own
 * Middleware_JsonClient (its path in SHIPSTREAM_JSON_CLIENT) with the same methods and argument
 * shapes the plugin (ShipStream/plugin-openmage Plugin.php) and the middleware's plugin base
 * (lib/Plugin/Abstract.php, setState/getState) send. Ours, written for the tests: the calls are
 * the plugin's, the code is not.
 *
 *   php openmage_sequence.php STEP < input.json      prints the step's findings as JSON
 *
 * Environment: RPCF_URL (the JSON-RPC endpoint), RPCF_USER, RPCF_KEY.
 */

require __DIR__.'/zend_http_client.php';
require getenv('SHIPSTREAM_JSON_CLIENT');

const PLUGIN_CODE = 'ShipStream_Magento1';  // config.xml: the plugin's code, the prefix of its state keys
const STATE_LOCK_ORDER_PULL = 'lock_order_pull';

$client = new Middleware_JsonClient(
    array('base_url' => getenv('RPCF_URL'), 'login' => getenv('RPCF_USER'), 'password' => getenv('RPCF_KEY')),
    NULL,
    new stdClass()
);
$input = json_decode(stream_get_contents(STDIN), TRUE);

/** Abstract.php setState: keys prefixed with the plugin's code, then state.set [data, value, ifEquals]. */
function set_state($client, $data, $value = NULL, $ifEquals = NULL)
{
    if (is_string($data)) {
        $data = PLUGIN_CODE.'_'.$data;
    } else {
        $prefixed = array();
        foreach ($data as $k => $v) {
            $prefixed[PLUGIN_CODE.'_'.$k] = $v;
        }
        $data = $prefixed;
    }
    return $client->call('state.set', array($data, $value, $ifEquals));
}

/** Abstract.php getState: state.get [keys, detailed]. */
function get_state($client, $keys, $detailed = FALSE)
{
    return $client->call('state.get', array(is_string($keys) ? PLUGIN_CODE.'_'.$keys : $keys, $detailed));
}

/** Plugin.php _lockOrderImport, one attempt: read the lock in detail, take it when free. */
function lock_order_import($client)
{
    $state = get_state($client, STATE_LOCK_ORDER_PULL, TRUE);
    if (empty($state['value']) || empty($state['updated_at']) || $state['value'] == 'unlocked') {
        return array('state' => $state, 'locked' => (bool) set_state($client, STATE_LOCK_ORDER_PULL, 'locked'));
    }
    // The plugin treats a lock older than a minute as stale: the date must parse.
    $updatedAt = new DateTime($state['updated_at']);
    return array('state' => $state, 'locked' => FALSE, 'updated_at' => $updatedAt->format('Y-m-d H:i:s'));
}

/** Plugin.php _getMagentoId / _getMagentoShipmentIncrementId. */
function magento_id($source)
{
    return preg_match('/^magento:(\d+)$/', (string) $source, $m) ? $m[1] : FALSE;
}

function magento_shipment_id($externalId)
{
    return preg_match('/^magento:(\d+)#(:t)?$/', (string) $externalId, $m) ? $m[1] : FALSE;
}

try {
    switch ($argv[1]) {
        case 'lock':
            $out = lock_order_import($client);
            break;
        case 'unlock':
            $out = array('set' => set_state($client, STATE_LOCK_ORDER_PULL, 'unlocked'),
                         'state' => get_state($client, array(PLUGIN_CODE.'_'.STATE_LOCK_ORDER_PULL), TRUE));
            break;
        case 'deactivate':
            $out = array('set' => set_state($client, array(STATE_LOCK_ORDER_PULL => NULL, 'order_last_sync_at' => NULL)),
                         'state' => get_state($client, STATE_LOCK_ORDER_PULL));
            break;
        case 'import':
            // Plugin.php importOrderEvent, with the Magento order given as input.
            $magentoOrder = $input['magento_order'];
            $found = $client->call('order.search', array(array('order_ref' => $magentoOrder['increment_id']), array(), array()));
            if ($found['totalCount'] > 0) {
                $out = array('existing' => $found['results'][0]['unique_id'], 'created_at' => $found['results'][0]['created_at']);
                break;
            }
            $shippingAddress = $magentoOrder['shipping_address'];
            $shippingAddress['street1'] = $shippingAddress['street'];
            $orderItems = array();
            $skus = array();
            foreach ($magentoOrder['items'] as $item) {
                $qty = max($item['qty_ordered'] - $item['qty_canceled'] - $item['qty_refunded'] - $item['qty_shipped'], 0);
                $orderItems[] = array('sku' => $item['sku'], 'qty' => $qty, 'order_item_ref' => $item['item_id']);
                $skus[] = $item['sku'];
            }
            $products = $client->call('product.search', array(array('sku' => array('in' => $skus))));
            $options = array(
                'order_ref' => $magentoOrder['increment_id'],
                'shipping_method' => $input['shipping_method'],
                'source' => 'magento:'.$magentoOrder['increment_id'],
            );
            $lock = lock_order_import($client);
            $result = $client->call('order.create', array(NULL, $orderItems, $shippingAddress, $options));
            $client->call('order.comment', array($result['unique_id'], "Script output from \"Order Transform Script\":\n<pre>ok</pre>"));
            set_state($client, STATE_LOCK_ORDER_PULL, 'unlocked');
            $out = array('lock' => $lock, 'created' => $result,
                         'product_skus' => array_map(function ($p) { return $p['sku']; }, $products));
            break;
        case 'packed':
            // Plugin.php shipmentPackedEvent: what it reads from the shipment:packed payload.
            $payload = $input['payload'];
            $trackerAdded = FALSE;
            foreach ($payload['packages'] as $package) {
                if ( ! empty($package['tracking_numbers'])) {
                    $trackerAdded = TRUE;
                }
            }
            $magentoShipmentId = $input['magento_shipment_id'];
            $source = 'magento:'.$magentoShipmentId.'#'.($trackerAdded ? ':t' : '');
            $out = array(
                'unique_id' => $payload['unique_id'],
                'magento_order_id' => magento_id($payload['source']),
                'magento_shipment_id' => magento_shipment_id((string) $payload['external_id']),
                'warehouse_id' => $payload['warehouse_id'],
                'tracker_added' => $trackerAdded,
                'update' => $client->call('shipment.update', array($payload['unique_id'], array('source' => $source))),
            );
            break;
        case 'reverted':
            // Plugin.php shipmentRevertedEvent: what it reads from shipment:reverted / labels_voided.
            $payload = $input['payload'];
            $out = array(
                'magento_order_id' => magento_id($payload['source']),
                'magento_shipment_id' => magento_shipment_id((string) $payload['external_id']),
                'warehouse_id' => $payload['warehouse_id'],
            );
            break;
        case 'inventory':
            // Plugin.php inventoryWithLock: inventory.list with NULL (all) or one SKU.
            $rows = $client->call('inventory.list', empty($input['sku']) ? NULL : strval($input['sku']));
            $skus = array();
            foreach ($rows as $row) {
                $qtyAdvertised = intval($row['qty_advertised']);
                $qtyBackOrdered = intval($row['qty_backordered']);
                $skus[$row['sku']] = $qtyAdvertised > 0 ? $qtyAdvertised : -$qtyBackOrdered;
            }
            $out = array('skus' => $skus);
            break;
        default:
            throw new Exception("unknown step {$argv[1]}");
    }
    echo json_encode($out), "\n";
} catch (Plugin_Exception $e) {
    echo json_encode(array('fault' => $e->getCode(), 'message' => $e->getMessage())), "\n";
    exit(1);
}
