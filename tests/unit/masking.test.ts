import { birthYear, maskAddress, maskIdNumber, maskMemberId, maskName, maskPhone } from '../../domain/masking';

describe('masking personal data', () => {
  it('keeps the first and last character of a name', () => {
    expect(maskName('张建国')).toBe('张*国');
    expect(maskName('李四')).toBe('李*');
    expect(maskName('欧阳建国')).toBe('欧**国');
    expect(maskName('王')).toBe('*');
    expect(maskName(' 张建国 ')).toBe('张*国');
    expect(maskName('𠮷田一')).toBe('𠮷*一'); // a character outside the BMP counts once
    expect(maskName('')).toBe('');
    expect(maskName(undefined)).toBe('');
  });

  it('keeps 3 + 4 digits of a mobile number', () => {
    expect(maskPhone('13857100001')).toBe('138****0001');
    expect(maskPhone('138-5710-0001')).toBe('138****0001');
    expect(maskPhone('+86 138 5710 0001')).toBe('138****0001');
    expect(maskPhone('057188880000')).toBe('057****0000');
    expect(maskPhone('8888000')).toBe('88****00');
    expect(maskPhone('12345')).toBe('****');
    expect(maskPhone('')).toBe('');
  });

  it('keeps the region and the last 4 of an ID number, never the birth date', () => {
    expect(maskIdNumber('330302195803140011')).toBe('330302********0011');
    expect(maskIdNumber('33030219580314001x')).toBe('330302********001X');
    expect(maskIdNumber('330302580314001')).toBe('330302********4001');
    expect(maskIdNumber('12345')).toBe('********');
    expect(maskIdNumber(null)).toBe('');
    expect(maskIdNumber('330302195803140011')).not.toContain('19580314');
  });

  it('keeps the first 2 and last 4 of an insurance member number', () => {
    expect(maskMemberId('330106195803140011')).toBe('33************0011');
    expect(maskMemberId('hz 2026 0001 23')).toBe('HZ******0123');
    expect(maskMemberId('XH-1')).toBe('********');
    expect(maskMemberId(undefined)).toBe('');
  });

  it('keeps an address down to the district or county and drops the rest', () => {
    expect(maskAddress('浙江省温州市鹿城区五马街 1 号 2 单元')).toBe('浙江省温州市鹿城区');
    expect(maskAddress('杭州市西湖区文三路 90 号 东部软件园 3 幢')).toBe('杭州市西湖区');
    expect(maskAddress('北京市朝阳区建国路88号')).toBe('北京市朝阳区');
    expect(maskAddress('上海市浦东新区世纪大道100号')).toBe('上海市浦东新区');
    expect(maskAddress('浙江省 温州市 永嘉县 瓯北街道')).toBe('浙江省温州市永嘉县');
    expect(maskAddress('广西壮族自治区南宁市青秀区民族大道1号')).toBe('广西壮族自治区南宁市青秀区');
    expect(maskAddress('湖北省恩施土家族苗族自治州恩施市舞阳大街')).toBe('湖北省恩施土家族苗族自治州恩施市');
    expect(maskAddress('浙江省金华市义乌市稠城街道某路5号')).toBe('浙江省金华市义乌市');
    expect(maskAddress('内蒙古自治区阿拉善盟阿拉善左旗巴彦浩特镇')).toBe('内蒙古自治区阿拉善盟阿拉善左旗');
  });

  it('never lets the street through when no district is recognised', () => {
    expect(maskAddress('杭州市阳光小区3幢201室')).toBe('杭州市');          // 小区 is not a district
    expect(maskAddress('江苏省苏州市工业园区星湖街328号')).toBe('江苏省苏州市'); // nor is an industrial park
    expect(maskAddress('杭州市文三路某某小区')).toBe('杭州市');
    expect(maskAddress('文三路 90 号')).toBe('');
    expect(maskAddress('')).toBe('');
    for (const a of ['杭州市文三路某某小区', '五马街 1 号 2 单元', '浙江省温州市鹿城区五马街 1 号']) {
      expect(maskAddress(a)).not.toMatch(/路|街|号|单元|小区/);
    }
  });

  it('reduces a birth date to its year', () => {
    expect(birthYear('1958-03-14')).toBe(1958);
    expect(birthYear('')).toBeNull();
    expect(birthYear(undefined)).toBeNull();
  });
});
