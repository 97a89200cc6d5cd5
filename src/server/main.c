/* netpulse-server entry point (placeholder until the server lands). */
#include <stdio.h>
int main(void) { fputs("netpulse-server: under construction\n", stderr); return 1; }
