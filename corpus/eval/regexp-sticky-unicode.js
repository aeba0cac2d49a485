[...'a😀b😀'.matchAll(/\p{Extended_Pictographic}/gu)].map(m => m.index)
