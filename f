A
a





b





c





d





e




