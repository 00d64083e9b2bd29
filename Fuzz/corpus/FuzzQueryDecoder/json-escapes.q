þ {"click\u005fid" : "\"\\\/\b\f\n\r\t", "sub1":"caf\u00e9 \ud83d\ude00", "txid":"", "amount":-0.5e+3}
