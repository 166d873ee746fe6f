<?php
/**
 * The least of Zend Framework 1's HTTP client that ShipStream's Middleware_JsonClient uses
 * (it extends Zend_Http_Client), on PHP's curl, so that the official client runs unchanged in
 * our tests. Ours, written for the tests: not Zend's code.
 */

class Plugin_Exception extends Exception
{
}

class Zend_Http_Response
{
    private $status;
    private $headers;
    private $body;

    public function __construct($status, $headers, $body)
    {
        $this->status = $status;
        $this->headers = $headers;
        $this->body = $body;
    }

    public function isSuccessful() { return $this->status >= 200 && $this->status < 300; }
    public function getStatus() { return $this->status; }
    public function getBody() { return $this->body; }
    public function getHeadersAsString($statusLine = TRUE, $br = "\n") { return implode($br, $this->headers); }
    public function asString() { return "HTTP {$this->status}\n".$this->getHeadersAsString()."\n\n".$this->body; }
}

class Zend_Http_Client
{
    private $uri;
    private $headers = array();
    private $rawData = '';
    private $lastRequest = '';

    public function __construct($uri = NULL, $config = NULL)
    {
        $this->uri = $uri;
    }

    public function setHeaders($name, $value = NULL)
    {
        $this->headers[$name] = $value;
        return $this;
    }

    public function setRawData($data, $enctype = NULL)
    {
        $this->rawData = $data;
        return $this;
    }

    public function setCookie($name, $value = NULL)
    {
        return $this;
    }

    public function resetParameters($clearAll = FALSE)
    {
        $this->rawData = '';
        return $this;
    }

    public function getLastRequest()
    {
        return $this->lastRequest;
    }

    public function request($method = NULL)
    {
        $headers = array();
        foreach ($this->headers as $name => $value) {
            $headers[] = "$name: $value";
        }
        $this->lastRequest = $this->rawData;
        $curl = curl_init($this->uri);
        curl_setopt_array($curl, array(
            CURLOPT_CUSTOMREQUEST => $method ?: 'GET',
            CURLOPT_POSTFIELDS => $this->rawData,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => TRUE,
            CURLOPT_HEADER => TRUE,
            CURLOPT_TIMEOUT => 30,
        ));
        $answer = curl_exec($curl);
        if ($answer === FALSE) {
            $error = curl_error($curl);
            curl_close($curl);
            throw new Exception("HTTP request failed: $error");
        }
        $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        $headerSize = curl_getinfo($curl, CURLINFO_HEADER_SIZE);
        curl_close($curl);
        $headerLines = array_filter(explode("\r\n", substr($answer, 0, $headerSize)));
        return new Zend_Http_Response($status, $headerLines, substr($answer, $headerSize));
    }
}
