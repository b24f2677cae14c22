/** The API key lives for this browser tab's session only, never in localStorage or the URL. */
const KEY = 'balances.apiKey';

export const readKey = () => sessionStorage.getItem(KEY) ?? undefined;
export const storeKey = (key: string) => sessionStorage.setItem(KEY, key);
export const forgetKey = () => sessionStorage.removeItem(KEY);
